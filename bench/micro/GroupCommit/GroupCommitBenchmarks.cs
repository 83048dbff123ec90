using System.Diagnostics;
using Akka.Actor;
using BenchmarkDotNet.Attributes;
using DmEra.Engine;
using DmEra.Storage.Devices;
using DmEra.Metadata.PersistentData;

namespace DmEra.Micro.Bench.GroupCommit;

public sealed class GroupCommitConfig : MicroConfig
{
    public GroupCommitConfig() : base(MicroJobs.OneShot) =>
        AddColumn(CommitCounterColumn.CommitsPerSecond, CommitCounterColumn.BitsPerCommit);
}

/// <summary>
/// Fresh-era first-writes through a whole <see cref="EraVolume"/> (I/O router, metadata writer actor, group
/// commit): every timed write goes to a block not yet written in the era, so none reaches the origin before
/// a commit marking it is durable. Each iteration starts with a checkpoint (a new, empty era) and waits for
/// the background digest of the previous one, so only first-write commits run while timed. The origin is in
/// memory in both cases, so the difference between them is the metadata device: memory, or a file with a
/// real fdatasync. Mean = time per first-write; the Commits/s and Bits/commit columns come from the
/// volume's counters over the timed writes (warmup iterations included).
/// </summary>
[BenchmarkCategory("group-commit")]
[Config(typeof(GroupCommitConfig))]
public class GroupCommitBenchmarks
{
    private const int BlockBytes = 4096;
    private const uint BlockSizeSectors = BlockBytes / 512;

    /// <summary>First-writes per iteration: ~0.1-1 s each, so the suite stays short yet a commit is a small part of it.</summary>
    private const int FirstWritesWithMemoryMetadata = 16384;
    private const int FirstWritesWithFileMetadata = 2048;

    /// <summary>16 MiB: far more than the writeset and era array of these volumes need.</summary>
    private const long MetadataBytes = 16 << 20;

    [Params(1, 16)]
    public int QueueDepth { get; set; }

    private readonly byte[] _payload = new byte[BlockBytes];
    private ActorSystem _system = null!;
    private EraVolume _volume = null!;
    private DiskTempDirectory? _directory;
    private int _firstWrites;
    private VolumeSnapshot _before;
    private TimeSpan _elapsed;
    private CommitTotals _totals;

    [GlobalSetup(Target = nameof(MetadataInMemory))]
    public void StartWithMemoryMetadata() => Start(MetadataDevice.InMemory(MetadataBytes / MetadataBlock.Size), FirstWritesWithMemoryMetadata);

    [GlobalSetup(Target = nameof(MetadataOnFile))]
    public void StartWithFileMetadata()
    {
        _directory = new DiskTempDirectory("dmera-micro-group-commit-");
        var path = _directory.PathOf("era.meta");
        using (var f = File.Create(path)) f.SetLength(MetadataBytes);
        Start(MetadataDevice.Open(path, writable: true, DeviceLock.Exclusive), FirstWritesWithFileMetadata);
    }

    private void Start(MetadataDevice metadata, int firstWrites)
    {
        _firstWrites = firstWrites;
        new Random(3).NextBytes(_payload);
        _system = ActorSystem.Create("micro-bench", EngineSettings.DefaultConfig.WithFallback("akka.loglevel = WARNING"));
        var origin = new MemoryDevice((long)firstWrites * BlockBytes);
        _volume = EraVolume.StartAsync(_system, "group-commit", metadata, origin, BlockSizeSectors).GetAwaiter().GetResult();
    }

    /// <summary>A new era, so every block is unwritten again; then nothing left in the background.</summary>
    [IterationSetup]
    public void StartFreshEra()
    {
        _volume.CheckpointAsync().GetAwaiter().GetResult();
        while (_volume.HasDigestWorkAsync().GetAwaiter().GetResult()) Thread.Sleep(1);
        _before = VolumeSnapshot.Of(_volume);
    }

    [Benchmark(OperationsPerInvoke = FirstWritesWithMemoryMetadata)]
    public Task MetadataInMemory() => WriteEveryBlockOnceAsync();

    [Benchmark(OperationsPerInvoke = FirstWritesWithFileMetadata)]
    public Task MetadataOnFile() => WriteEveryBlockOnceAsync();

    /// <summary><see cref="QueueDepth"/> writers take the next unwritten block until every block has been written once.</summary>
    private async Task WriteEveryBlockOnceAsync()
    {
        long next = -1;
        var clock = Stopwatch.StartNew();
        var writers = new Task[QueueDepth];
        for (var w = 0; w < writers.Length; w++)
            writers[w] = Task.Run(async () =>
            {
                long block;
                while ((block = Interlocked.Increment(ref next)) < _firstWrites)
                    await _volume.WriteAsync(block * BlockBytes, _payload);
            });
        await Task.WhenAll(writers);
        _elapsed = clock.Elapsed;
    }

    /// <summary>Every timed write must have been a first-write, or the numbers would describe something else.</summary>
    [IterationCleanup]
    public void CountCommits()
    {
        var moved = VolumeSnapshot.Of(_volume).Since(_before, _elapsed);
        if (moved.FirstWrites != _firstWrites || moved.BlocksMarked != _firstWrites)
            throw new InvalidOperationException(
                $"{moved.FirstWrites} first-writes marking {moved.BlocksMarked} blocks were counted for {_firstWrites} writes to distinct blocks of a fresh era");
        _totals = _totals.Add(moved);
    }

    [GlobalCleanup]
    public void Stop()
    {
        var benchmark = _directory is null ? nameof(MetadataInMemory) : nameof(MetadataOnFile);
        CommitCounterLog.Append(CommitCounterLog.Key(benchmark, QueueDepth), _totals);
        _volume.StopAsync().GetAwaiter().GetResult();
        _system.Terminate().GetAwaiter().GetResult();
        _directory?.Dispose();
    }

    private readonly record struct VolumeSnapshot(long Commits, long FirstWrites, long BlocksMarked)
    {
        public static VolumeSnapshot Of(EraVolume volume) =>
            new(volume.Counters.Commits, volume.Counters.FirstWrites, volume.Counters.BlocksMarked);

        public CommitTotals Since(VolumeSnapshot before, TimeSpan elapsed) =>
            new(Commits - before.Commits, FirstWrites - before.FirstWrites, BlocksMarked - before.BlocksMarked, elapsed.TotalSeconds);
    }
}
