using DmEra.Engine.Tracking;
using DmEra.Metadata;
using DmEra.Metadata.PersistentData;

namespace DmEra.Engine.Tests;

/// <summary>Metadata failure: EIO for the affected writes, nothing untracked on the origin, an explicit failed state.</summary>
public sealed class FailureSpecs(ITestOutputHelper output) : EngineSpec(output)
{
    private const int B = 4096;

    [Fact]
    public async Task A_metadata_write_error_fails_the_write_with_EIO_and_the_volume_refuses_writes_but_serves_reads()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var origin = new RecordingOriginDevice(64 * B, metadata);
        var volume = await StartAsync(metadata, origin);
        await Bounded(volume.WriteAsync(0, Pattern(B, 1)));
        var originWrites = metadata.Log.Snapshot().Count(o => o.Kind == OperationKind.OriginWrite);
        metadata.FailWrite = _ => true;

        var e = await Assert.ThrowsAsync<VolumeFailedException>(() => Bounded(volume.WriteAsync(7 * B, new byte[B])));
        Assert.IsType<IOException>(e.InnerException);
        Assert.Equal(VolumeState.Failed, volume.State);
        Assert.Equal("Fail", await Bounded(volume.StatusAsync()));
        Assert.Equal(originWrites, metadata.Log.Snapshot().Count(o => o.Kind == OperationKind.OriginWrite));

        var data = new byte[B];
        await Bounded(volume.ReadAsync(0, data));
        Assert.Equal(Pattern(B, 1), data);
        await Assert.ThrowsAsync<VolumeFailedException>(() => Bounded(volume.WriteAsync(0, new byte[1])));
        await Assert.ThrowsAsync<VolumeFailedException>(() => Bounded(volume.WriteAsync(7 * B, new byte[1])));
        await Assert.ThrowsAsync<VolumeFailedException>(() => Bounded(volume.CheckpointAsync()));
        Assert.Equal(originWrites, metadata.Log.Snapshot().Count(o => o.Kind == OperationKind.OriginWrite));

        await Bounded(volume.StopAsync());   // no final commit on failed metadata; stop still completes
        var eras = LogicalEras(metadata.CrashImage());
        Assert.Equal(1u, eras[0]);
        Assert.Equal(0u, eras[7]);           // the failed write's block was never recorded ...
    }

    [Fact]
    public async Task Every_write_of_a_failed_batch_gets_EIO_and_a_restart_retries_cleanly()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var origin = new RecordingOriginDevice(64 * B, metadata);
        var volume = await StartAsync(metadata, origin);
        var flushesBefore = metadata.FlushesStarted;
        metadata.FlushGate = new SemaphoreSlim(0);
        var first = volume.WriteAsync(1 * B, new byte[1]).AsTask();
        await Eventually(() => Task.FromResult(metadata.FlushesStarted > flushesBefore));
        var queued = Enumerable.Range(2, 10).Select(i => volume.WriteAsync(i * B, new byte[1]).AsTask()).ToArray();
        metadata.FailFlush = true;
        metadata.FlushGate.Release(1000);

        await Assert.ThrowsAsync<VolumeFailedException>(() => Bounded(first));
        foreach (var q in queued) await Assert.ThrowsAsync<VolumeFailedException>(() => Bounded(q));
        Assert.DoesNotContain(metadata.Log.Snapshot(), o => o.Kind == OperationKind.OriginWrite);
        await Bounded(volume.StopAsync());

        // ... and a restart over the same (healthy again) device works from the last good commit.
        var restarted = metadata.AfterCrash();
        var again = await StartAsync(restarted, new MemoryDevice(64 * B), name: "again");
        await Bounded(again.WriteAsync(1 * B, new byte[1]));
        Assert.Equal(again.CurrentEra, (await Bounded(again.GetBlockErasAsync(1, 1)))[0]);
        await Bounded(again.StopAsync());
    }

    [Fact]
    public async Task Kernel_fix_5a32083d_a_commit_whose_superblock_write_fails_leaves_the_last_good_superblock_in_place()
    {
        // The kernel learned to gather everything that can fail before touching the superblock. Here the
        // superblock write itself fails: the previous superblock, and the trees it points at, must survive.
        var metadata = new RecordingMetadataDevice(1024);
        var volume = await StartAsync(metadata, new MemoryDevice(64 * B));
        await Bounded(volume.WriteAsync(2 * B, new byte[1]));
        metadata.FailWrite = block => block == 0;

        await Assert.ThrowsAsync<VolumeFailedException>(() => Bounded(volume.WriteAsync(3 * B, new byte[1])));
        await Bounded(volume.StopAsync());

        var eras = LogicalEras(metadata.CrashImage());
        Assert.Equal(1u, eras[2]);
        Assert.Equal(0u, eras[3]);
    }

    [Fact]
    public async Task A_full_metadata_device_fails_the_write_and_the_volume_without_an_untracked_origin_write()
    {
        // 4M tracking blocks: each first-write into a different bitset array block (32576 bits) costs new
        // metadata blocks, so a 64-block metadata device fills after a few dozen.
        var metadata = MetadataDevice.InMemory(64);
        var origin = new NullDevice(4L * 1024 * 1024 * B);
        var volume = await StartAsync(metadata, origin);
        var succeeded = 0;
        VolumeFailedException? failure = null;
        for (var i = 0; i < 128 && failure is null; i++)
        {
            try
            {
                await Bounded(volume.WriteAsync(i * 32576L * B, new byte[1]));
                succeeded++;
            }
            catch (VolumeFailedException e) { failure = e; }
        }
        Assert.NotNull(failure);
        Assert.IsType<MetadataSpaceExhaustedException>(failure!.InnerException);
        Assert.Equal(succeeded, origin.Writes);
        Assert.Equal(VolumeState.Failed, volume.State);
        Output.WriteLine($"{succeeded} first-writes fitted before the metadata device was full");
        await Bounded(volume.StopAsync());
    }
}
