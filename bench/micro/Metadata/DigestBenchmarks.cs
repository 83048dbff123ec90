using BenchmarkDotNet.Attributes;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;

namespace DmEra.Micro.Bench.Metadata;

/// <summary>
/// Folding one archived writeset of 2^20 blocks into the era array, as the engine's background digest does
/// after a checkpoint: <see cref="EraMetadata.DigestStep"/> with the engine's step (dmera.engine
/// digest-bits-per-step) and <see cref="EraMetadata.DigestAll"/> (shutdown, tools), each ending with the
/// commit that makes the result durable. Reported per block of the writeset, marked or not.
/// </summary>
[BenchmarkCategory("digest")]
[Config(typeof(OneShotConfig))]
[MemoryDiagnoser]
public class DigestBenchmarks
{
    private const uint NrBlocks = 1 << 20;

    /// <summary>The engine's default digest-bits-per-step (one bitset array block).</summary>
    private const int EngineBitsPerStep = 32576;

    private const long DeviceBlocks = 16384;

    /// <summary>
    /// Fraction of the blocks written in the archived era, spread uniformly: 1 % (a quiet hour), 10 %,
    /// 100 % (an era that rewrote the whole volume). Uniform spreading touches every era array block from
    /// a few percent on, as scattered writes of a busy volume do.
    /// </summary>
    [Params(0.01, 0.1, 1.0)]
    public double MarkedFraction { get; set; }

    private MetadataDevice _archived = null!;
    private uint _archivedEra;
    private int _markedBlocks;
    private EraMetadata _metadata = null!;

    [GlobalSetup]
    public void Setup()
    {
        _archived = MetadataDevice.InMemory(DeviceBlocks);
        using var md = EraMetadata.Format(_archived, blockSizeSectors: 8);
        md.Resize(NrBlocks);
        md.Rollover();
        var random = new Random(5);
        var marked = Enumerable.Range(0, (int)NrBlocks).Where(_ => random.NextDouble() < MarkedFraction).Select(b => (uint)b).ToArray();
        md.MarkBlocks(marked);
        _markedBlocks = marked.Length;
        _archivedEra = md.CurrentEra;
        md.Archive();
        md.Commit();
    }

    /// <summary>A copy of the committed image each time: a digest consumes the writeset it folds.</summary>
    [IterationSetup]
    public void OpenArchivedImage() => _metadata = EraMetadata.Open(_archived.Clone(), blockSizeSectors: 8, mayFormat: false);

    [Benchmark(OperationsPerInvoke = (int)NrBlocks)]
    public void DigestInEngineSteps()
    {
        while (_metadata.DigestStep(EngineBitsPerStep)) { }
        _metadata.Commit();
    }

    [Benchmark(OperationsPerInvoke = (int)NrBlocks)]
    public void DigestAll()
    {
        _metadata.DigestAll();
        _metadata.Commit();
    }

    /// <summary>The era array must now give the archived era to exactly the marked blocks.</summary>
    [IterationCleanup]
    public void CheckEraArray()
    {
        long withEra = 0, other = 0;
        _metadata.EraArray.Walk(_metadata.EraArrayRoot, (_, values) =>
        {
            for (var i = 0; i < EraArray.Count(values); i++)
            {
                var era = EraArray.EraAt(values, i);
                if (era == _archivedEra) withEra++;
                else if (era != 0) other++;
            }
        });
        if (_metadata.HasDigestWork || withEra != _markedBlocks || other != 0)
            throw new InvalidOperationException(
                $"after the digest {withEra} blocks carry era {_archivedEra} and {other} another era; {_markedBlocks} were marked");
        _metadata.Dispose();
    }
}
