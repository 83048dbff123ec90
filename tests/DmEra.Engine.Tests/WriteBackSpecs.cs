using Akka.Configuration;
using DmEra.Engine.Tests.Fakes;

namespace DmEra.Engine.Tests;

/// <summary>
/// Write-back for first writes: a write without FUA is answered before the commit of its mark and reaches the
/// origin only after it. Reads see it, later writes land after it, FLUSH waits for it and reports its failure.
/// The metadata device's flush is held (its gate) to stand in for a commit in flight.
/// </summary>
public sealed class WriteBackSpecs(ITestOutputHelper output) : EngineSpec(output, ConfigurationFactory.ParseString(
    "dmera.engine.write-back-bytes = 67108864"))
{
    private const int B = 4096;

    private sealed record Held(RecordingMetadataDevice Metadata, RecordingOriginDevice Origin, EraVolume Volume);

    /// <summary>A volume with block 4 marked, whose next commit is held at the metadata flush.</summary>
    private async Task<Held> StartHeldAsync()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var origin = new RecordingOriginDevice(64 * B, metadata);
        var volume = await StartAsync(metadata, origin);
        await Bounded(volume.WriteAsync(4 * B, Pattern(B, 4), fua: true));   // FUA: never written back
        metadata.FlushGate = new SemaphoreSlim(0);
        return new Held(metadata, origin, volume);
    }

    private static bool OriginWritten(Held h, long offset) =>
        h.Metadata.Log.Snapshot().Any(o => o.Kind == OperationKind.OriginWrite && o.Position == offset);

    private async Task ReleaseAndStopAsync(Held h)
    {
        h.Metadata.FlushGate!.Release(1000);
        h.Metadata.FlushGate = null;
        await Bounded(h.Volume.StopAsync());
    }

    [Fact]
    public async Task A_first_write_without_FUA_is_answered_before_its_commit_and_reaches_the_origin_only_after_it()
    {
        var h = await StartHeldAsync();
        var era = h.Volume.CurrentEra;
        var flushesBefore = h.Metadata.FlushesStarted;

        await Bounded(h.Volume.WriteAsync(10 * B, Pattern(B, 10)));   // answered while its commit is held

        await Eventually(() => Task.FromResult(h.Metadata.FlushesStarted > flushesBefore));
        Assert.False(OriginWritten(h, 10 * B));
        Assert.Equal(0u, LogicalEras(h.Metadata.CrashImage())[10]);
        h.Metadata.FlushGate!.Release(1000);
        await Bounded(h.Volume.FlushAsync());
        var write = Assert.Single(h.Metadata.Log.Snapshot(), o => o.Kind == OperationKind.OriginWrite && o.Position == 10 * B);
        Assert.Equal(era, LogicalEras(h.Metadata.ImageOf(write.DurableVersion))[10]);
        await ReleaseAndStopAsync(h);
    }

    [Fact]
    public async Task A_read_of_an_answered_write_not_yet_on_the_origin_returns_its_data()
    {
        var h = await StartHeldAsync();
        await Bounded(h.Volume.WriteAsync(10 * B + 512, Pattern(B, 10)));

        var buffer = new byte[2 * B];
        var read = h.Volume.ReadAsync(10 * B, buffer).AsTask();
        await Task.Delay(100);
        h.Metadata.FlushGate!.Release(1000);
        await Bounded(read);

        Assert.Equal(Pattern(B, 10), buffer[512..(512 + B)]);
        await ReleaseAndStopAsync(h);
    }

    [Fact]
    public async Task What_asks_the_origin_directly_waits_only_for_answered_writes_overlapping_its_range()
    {
        var h = await StartHeldAsync();
        await Bounded(h.Volume.WriteAsync(10 * B, Pattern(B, 10)));

        await Bounded(h.Volume.OnOriginAsync(20 * B, B));   // base:allocation elsewhere: nothing to wait for
        var onOrigin = h.Volume.OnOriginAsync(8 * B, 4 * B);
        await Task.Delay(100);
        Assert.False(onOrigin.IsCompleted);
        h.Metadata.FlushGate!.Release(1000);
        await Bounded(onOrigin);
        Assert.True(OriginWritten(h, 10 * B));
        await ReleaseAndStopAsync(h);
    }

    [Fact]
    public async Task A_later_write_overlapping_an_answered_one_lands_after_it_even_on_a_marked_block()
    {
        var h = await StartHeldAsync();
        await Bounded(h.Volume.WriteAsync(4 * B, Pattern(2 * B, 1)));   // blocks 4 (marked) and 5 (not): written back
        var second = h.Volume.WriteAsync(4 * B, Pattern(B, 2)).AsTask();   // block 4 alone would take the fast path
        await Task.Delay(100);
        Assert.False(second.IsCompleted);

        h.Metadata.FlushGate!.Release(1000);
        await Bounded(second);
        await Bounded(h.Volume.FlushAsync());
        var buffer = new byte[2 * B];
        h.Origin.Inner.Read(4 * B, buffer);
        Assert.Equal(Pattern(B, 2), buffer[..B]);
        Assert.Equal(Pattern(2 * B, 1)[B..], buffer[B..]);
        await ReleaseAndStopAsync(h);
    }

    [Fact]
    public async Task A_later_write_sharing_a_4_KiB_page_but_no_byte_with_an_answered_one_is_ordered_after_it()
    {
        // The origin may read-modify-write the page (or its sector), and a crash keeps sectors whole.
        var h = await StartHeldAsync();
        await Bounded(h.Volume.WriteAsync(10 * B, Pattern(100, 1)));
        var second = h.Volume.WriteAsync(10 * B + 100, Pattern(100, 2)).AsTask();
        await Task.Delay(100);
        Assert.False(second.IsCompleted);

        h.Metadata.FlushGate!.Release(1000);
        await Bounded(second);
        var ops = h.Metadata.Log.Snapshot().Where(o => o.Kind == OperationKind.OriginWrite && o.Position >= 10 * B).ToArray();
        Assert.Equal(new long[] { 10 * B, 10 * B + 100 }, ops.Select(o => o.Position));
        await ReleaseAndStopAsync(h);
    }

    [Fact]
    public async Task A_flush_waits_until_every_answered_write_is_on_the_origin_and_then_flushes_it()
    {
        var h = await StartHeldAsync();
        await Bounded(h.Volume.WriteAsync(10 * B, Pattern(B, 10)));
        await Bounded(h.Volume.WriteAsync(20 * B, Pattern(B, 20)));

        var flush = h.Volume.FlushAsync().AsTask();
        await Task.Delay(100);
        Assert.False(flush.IsCompleted);
        h.Metadata.FlushGate!.Release(1000);
        await Bounded(flush);

        var ops = h.Metadata.Log.Snapshot();
        var lastFlush = ops.Last(o => o.Kind == OperationKind.OriginFlush).Sequence;
        Assert.True(ops.Single(o => o.Kind == OperationKind.OriginWrite && o.Position == 10 * B).Sequence < lastFlush);
        Assert.True(ops.Single(o => o.Kind == OperationKind.OriginWrite && o.Position == 20 * B).Sequence < lastFlush);
        await ReleaseAndStopAsync(h);
    }

    [Fact]
    public async Task A_commit_that_fails_after_its_write_was_answered_fails_the_next_flush_and_never_reaches_the_origin()
    {
        var h = await StartHeldAsync();
        await Bounded(h.Volume.WriteAsync(10 * B, Pattern(B, 10)));
        h.Metadata.FailFlush = true;
        h.Metadata.FlushGate!.Release(1000);

        var failed = await Assert.ThrowsAsync<VolumeFailedException>(() => Bounded(h.Volume.FlushAsync()));
        Output.WriteLine(failed.Message);
        Assert.Contains("did not reach the origin", failed.Message);
        Assert.False(OriginWritten(h, 10 * B));
        Assert.Equal(Tracking.VolumeState.Failed, h.Volume.State);
        await Assert.ThrowsAsync<VolumeFailedException>(() => Bounded(h.Volume.WriteAsync(30 * B, new byte[B])));
        h.Metadata.FailFlush = false;
        await ReleaseAndStopAsync(h);
    }

    [Fact]
    public async Task A_FUA_first_write_still_waits_for_its_commit()
    {
        var h = await StartHeldAsync();
        var write = h.Volume.WriteAsync(10 * B, Pattern(B, 10), fua: true).AsTask();
        await Task.Delay(100);
        Assert.False(write.IsCompleted);
        Assert.False(OriginWritten(h, 10 * B));
        h.Metadata.FlushGate!.Release(1000);
        await Bounded(write);
        Assert.True(OriginWritten(h, 10 * B));
        await ReleaseAndStopAsync(h);
    }

    [Fact]
    public async Task A_stop_and_era_queries_wait_for_answered_writes_so_they_are_on_the_origin_and_marked()
    {
        var h = await StartHeldAsync();
        var era = h.Volume.CurrentEra;
        await Bounded(h.Volume.WriteAsync(10 * B, Pattern(B, 10)));
        var eras = h.Volume.GetBlockErasAsync(0, 64);
        await Task.Delay(100);
        Assert.False(eras.IsCompleted);
        h.Metadata.FlushGate!.Release(1000);
        Assert.Equal(era, (await Bounded(eras))[10]);

        await Bounded(h.Volume.WriteAsync(11 * B, Pattern(B, 11)));
        await Bounded(h.Volume.StopAsync());
        var buffer = new byte[B];
        h.Origin.Inner.Read(11 * B, buffer);
        Assert.Equal(Pattern(B, 11), buffer);
        Assert.Equal(era, LogicalEras(h.Metadata.CrashImage())[11]);
    }
}

/// <summary>The write-back cap: past it, a first write waits for its commit as without write-back.</summary>
public sealed class WriteBackCapSpecs(ITestOutputHelper output) : EngineSpec(output, ConfigurationFactory.ParseString(
    "dmera.engine.write-back-bytes = 4096"))
{
    private const int B = 4096;

    [Fact]
    public async Task A_first_write_past_the_write_back_cap_waits_for_its_commit()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var volume = await StartAsync(metadata, new RecordingOriginDevice(64 * B, metadata));
        metadata.FlushGate = new SemaphoreSlim(0);

        await Bounded(volume.WriteAsync(10 * B, Pattern(B, 10)));   // the cap's 4 KiB: answered at once
        var second = volume.WriteAsync(20 * B, Pattern(B, 20)).AsTask();
        await Task.Delay(100);
        Assert.False(second.IsCompleted);

        metadata.FlushGate.Release(1000);
        await Bounded(second);
        await Bounded(volume.StopAsync());
    }
}
