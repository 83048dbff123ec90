using DmEra.Engine.Tests.Fakes;
using DmEra.Metadata.Era;

namespace DmEra.Engine.Tests;

/// <summary>The dm-era promise, checked against a log of every metadata and origin operation.</summary>
public sealed class FirstWriteOrderingSpecs(ITestOutputHelper output) : EngineSpec(output)
{
    private const int BlockBytes = 4096;

    [Fact]
    public async Task No_origin_write_is_issued_before_a_durable_commit_marks_every_block_it_covers()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var origin = new RecordingOriginDevice(256 * BlockBytes + 1000, metadata);   // partial last block
        var volume = await StartAsync(metadata, origin);
        var era = volume.CurrentEra;

        // 8 concurrent writers, unaligned offsets and lengths spanning 1-4 blocks, many hitting the same blocks.
        var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            var rnd = new Random(w);
            for (var i = 0; i < 60; i++)
            {
                var length = rnd.Next(1, 3 * BlockBytes);
                var offset = rnd.NextInt64(0, origin.SizeBytes - length);
                switch (rnd.Next(4))
                {
                    case 0: await volume.TrimAsync(offset, length); break;
                    case 1: await volume.WriteZeroesAsync(offset, length); break;
                    default: await volume.WriteAsync(offset, Pattern(length, w * 1000 + i), fua: rnd.Next(5) == 0); break;
                }
            }
        })).ToArray();
        await Bounded(Task.WhenAll(writers));
        Assert.Equal(era, volume.CurrentEra);

        var decoded = new Dictionary<int, EraMetadata>();
        var checkedWrites = 0;
        foreach (var op in metadata.Log.Snapshot().Where(o => o.Kind == OperationKind.OriginWrite))
        {
            if (!decoded.TryGetValue(op.DurableVersion, out var md))
                decoded[op.DurableVersion] = md = EraMetadata.Open(metadata.ImageOf(op.DurableVersion), 8, mayFormat: false);
            Assert.Equal(era, md.CurrentEra);
            for (var b = (uint)(op.Position / BlockBytes); b <= (uint)((op.Position + op.Length - 1) / BlockBytes); b++)
                Assert.True(md.IsMarkedInCurrentWriteset(b),
                    $"origin write [{op.Position}, +{op.Length}) was issued (op {op.Sequence}) before block {b} was durably marked");
            checkedWrites++;
        }
        Assert.Equal(480, checkedWrites);
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task Under_concurrent_checkpoints_every_origin_write_finds_its_blocks_durably_marked_in_its_era_or_later()
    {
        var metadata = new RecordingMetadataDevice(2048);
        var origin = new RecordingOriginDevice(512 * BlockBytes, metadata);
        var volume = await StartAsync(metadata, origin);
        var eraAtStart = new System.Collections.Concurrent.ConcurrentDictionary<(long, long), uint>();
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
        {
            var rnd = new Random(100 + w);
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var length = rnd.Next(1, 2 * BlockBytes);
                var offset = rnd.NextInt64(0, origin.SizeBytes - length);
                if (!eraAtStart.TryAdd((offset, length), volume.CurrentEra)) continue;   // keys identify log entries
                await volume.WriteAsync(offset, new byte[length]);
            }
        })).ToArray();
        for (var c = 0; c < 15; c++)
        {
            await Task.Delay(3);
            await Bounded(volume.CheckpointAsync());
        }
        stop.Cancel();
        await Bounded(Task.WhenAll(writers));

        var decoded = new Dictionary<int, uint[]>();
        var writes = metadata.Log.Snapshot().Where(o => o.Kind == OperationKind.OriginWrite).ToArray();
        foreach (var op in writes)
        {
            if (!decoded.TryGetValue(op.DurableVersion, out var eras))
                decoded[op.DurableVersion] = eras = LogicalEras(metadata.ImageOf(op.DurableVersion));
            var era = eraAtStart[(op.Position, op.Length)];
            for (var b = (uint)(op.Position / BlockBytes); b <= (uint)((op.Position + op.Length - 1) / BlockBytes); b++)
                Assert.True(eras[b] >= era,
                    $"origin write [{op.Position}, +{op.Length}) of era {era} was issued when block {b} was durable only in era {eras[b]}");
        }
        Output.WriteLine($"{writes.Length} origin writes checked against {decoded.Count} durable images over {volume.CurrentEra} eras");
        Assert.True(writes.Length > 50);
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task A_FUA_write_and_a_flush_make_the_origin_durable_before_they_are_answered_without_a_metadata_commit()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var origin = new RecordingOriginDevice(64 * BlockBytes, metadata);
        var volume = await StartAsync(metadata, origin);
        await Bounded(volume.WriteAsync(0, new byte[BlockBytes]));
        var metadataOps = metadata.Log.Snapshot().Count(o => o.Kind is OperationKind.MetadataWrite or OperationKind.MetadataFlush);

        await Bounded(volume.WriteAsync(100, new byte[10], fua: true));
        var ops = metadata.Log.Snapshot();
        Assert.Equal(OperationKind.OriginWrite, ops[^2].Kind);
        Assert.Equal(OperationKind.OriginFlush, ops[^1].Kind);

        await Bounded(volume.FlushAsync());
        ops = metadata.Log.Snapshot();
        Assert.Equal(OperationKind.OriginFlush, ops[^1].Kind);
        Assert.Equal(metadataOps, ops.Count(o => o.Kind is OperationKind.MetadataWrite or OperationKind.MetadataFlush));
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task An_unaligned_write_marks_every_block_it_overlaps_including_a_partial_last_block()
    {
        var origin = new MemoryDevice(10 * BlockBytes + 512);
        var volume = await StartAsync(Memory(), origin);
        var era = volume.CurrentEra;

        await Bounded(volume.WriteAsync(BlockBytes + 100, new byte[2 * BlockBytes]));     // blocks 1, 2, 3
        await Bounded(volume.WriteAsync(10 * BlockBytes + 10, new byte[10]));             // the partial block 10

        var eras = await Bounded(volume.GetBlockErasAsync(0, 11));
        Assert.Equal(new uint[] { 0, era, era, era, 0, 0, 0, 0, 0, 0, era }, eras);
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task Writes_to_blocks_already_marked_in_this_era_go_straight_to_the_origin_without_a_commit()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var volume = await StartAsync(metadata, new MemoryDevice(64 * BlockBytes));
        await Bounded(volume.WriteAsync(0, new byte[4 * BlockBytes]));
        var commits = volume.Counters.Commits;
        var flushes = metadata.FlushesStarted;

        for (var i = 0; i < 100; i++) await Bounded(volume.WriteAsync(i * 100, new byte[100]));

        Assert.Equal(1, commits);
        Assert.Equal(commits, volume.Counters.Commits);
        Assert.Equal(flushes, metadata.FlushesStarted);
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task Reads_and_flushes_are_served_while_a_commit_is_held_in_flight()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var origin = new RecordingOriginDevice(64 * BlockBytes, metadata);
        var volume = await StartAsync(metadata, origin);
        await Bounded(volume.WriteAsync(0, Pattern(BlockBytes, 1)));
        var flushesBefore = metadata.FlushesStarted;
        metadata.FlushGate = new SemaphoreSlim(0);

        var held = volume.WriteAsync(10 * BlockBytes, new byte[BlockBytes]).AsTask();
        await Eventually(() => Task.FromResult(metadata.FlushesStarted > flushesBefore));
        var buffer = new byte[BlockBytes];
        await Bounded(volume.ReadAsync(0, buffer));
        await Bounded(volume.FlushAsync());
        await Bounded(volume.WriteAsync(0, Pattern(BlockBytes, 2)));   // block 0 is marked: fast path

        Assert.Equal(Pattern(BlockBytes, 1), buffer);
        Assert.False(held.IsCompleted);
        metadata.FlushGate.Release(100);
        await Bounded(held);
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task Kernel_fix_2099b145_concurrent_writes_to_an_unmarked_block_all_wait_for_the_same_commit()
    {
        // The kernel once set the in-core bit before the commit: a second write to the block saw it set,
        // went to the origin and completed, and a crash before the commit lost it.
        var metadata = new RecordingMetadataDevice(1024);
        var origin = new RecordingOriginDevice(64 * BlockBytes, metadata);
        var volume = await StartAsync(metadata, origin);
        var flushesBefore = metadata.FlushesStarted;
        metadata.FlushGate = new SemaphoreSlim(0);

        var first = volume.WriteAsync(5 * BlockBytes, new byte[BlockBytes]).AsTask();
        await Eventually(() => Task.FromResult(metadata.FlushesStarted > flushesBefore));   // its commit is in flight
        var second = volume.WriteAsync(5 * BlockBytes + 100, new byte[10]).AsTask();
        await Task.Delay(200);

        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);
        Assert.DoesNotContain(metadata.Log.Snapshot(), o => o.Kind == OperationKind.OriginWrite);
        // A crash now keeps neither write, and neither was acknowledged.
        Assert.Equal(0u, LogicalEras(metadata.CrashImage())[5]);

        metadata.FlushGate.Release(100);
        await Bounded(Task.WhenAll(first, second));
        Assert.True(volume.Counters.Commits <= 2);
        Assert.Equal(volume.CurrentEra, LogicalEras(metadata.CrashImage())[5]);
        await Bounded(volume.StopAsync());
    }
}
