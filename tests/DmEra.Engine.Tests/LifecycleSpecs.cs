using Akka.Actor;
using DmEra.Engine.Tracking;
using DmEra.Metadata;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;

namespace DmEra.Engine.Tests;

/// <summary>Start = ctr + preresume, stop = postsuspend, and the "system two opens the same devices" recovery idiom.</summary>
public sealed class LifecycleSpecs(ITestOutputHelper output) : EngineSpec(output)
{
    private const int B = 4096;

    [Fact]
    public async Task Zeroed_metadata_is_formatted_and_the_first_activation_starts_era_1()
    {
        var metadata = MetadataDevice.InMemory(1024);
        var volume = await StartAsync(metadata, new MemoryDevice(10 * B + 1));
        Assert.Equal(1u, volume.CurrentEra);
        Assert.Equal(11u, volume.NrBlocks);
        Assert.Equal(VolumeState.Running, volume.State);
        await Bounded(volume.StopAsync());
        Assert.Equal(VolumeState.Stopped, volume.State);

        using var md = EraMetadata.Open(metadata, 8, mayFormat: false);
        Assert.Equal(11u, md.NrBlocks);
        Assert.Equal(1u, md.CurrentEra);
    }

    [Fact]
    public async Task A_clean_stop_and_restart_keeps_every_write_and_starts_the_next_era()
    {
        var metadata = MetadataDevice.InMemory(1024);
        var origin = new MemoryDevice(64 * B);
        var volume = await StartAsync(metadata, origin);
        await Bounded(volume.WriteAsync(3 * B, Pattern(B, 3)));
        await Bounded(volume.StopAsync());
        await Assert.ThrowsAsync<VolumeStoppingException>(() => volume.WriteAsync(0, new byte[1]).AsTask());

        var (era, eras) = await InSystemTwo(async two =>
        {
            var again = await EraVolume.StartAsync(two, "v", metadata, origin, 8).WaitAsync(Limit);
            var result = (again.CurrentEra, await Bounded(again.GetBlockErasAsync(0, 64)));
            var data = new byte[B];
            await Bounded(again.ReadAsync(3 * B, data));
            Assert.Equal(Pattern(B, 3), data);
            await Bounded(again.StopAsync());
            return result;
        });
        Assert.Equal(2u, era);
        Assert.Equal(1u, eras[3]);
        Assert.Equal(63, eras.Count(e => e == 0));
    }

    [Fact]
    public async Task Terminating_the_actor_system_stops_a_running_volume_cleanly()
    {
        var metadata = MetadataDevice.InMemory(1024);
        var origin = new MemoryDevice(64 * B);
        var two = ActorSystem.Create("system-two", Sys.Settings.Config);
        var volume = await EraVolume.StartAsync(two, "v", metadata, origin, 8).WaitAsync(Limit);
        await Bounded(volume.WriteAsync(6 * B, new byte[1]));

        await two.Terminate().WaitAsync(Limit);

        Assert.Equal(VolumeState.Stopped, volume.State);
        using var md = EraMetadata.Open(metadata, 8, mayFormat: false);
        Assert.True(md.CurrentWriteset.IsNone);   // archived, digested and committed by the stop
        Assert.Equal(1u, EraArray(md)[6]);
    }

    [Fact]
    public async Task Kernel_fix_de89afc1_a_writeset_committed_before_a_crash_is_archived_under_its_era_at_restart()
    {
        // The kernel once ignored the committed current writeset at resume and lost those writes.
        var metadata = new RecordingMetadataDevice(1024);
        var origin = new MemoryDevice(64 * B);
        var volume = await StartAsync(metadata, origin);
        await Bounded(volume.CheckpointAsync());   // era 2
        await Bounded(volume.WriteAsync(5 * B, new byte[B]));
        await Bounded(volume.WriteAsync(9 * B, new byte[B]));
        var crashed = metadata.AfterCrash();       // power cut: only flushed metadata survives

        var eras = await InSystemTwo(async two =>
        {
            var again = await EraVolume.StartAsync(two, "v", crashed, origin, 8).WaitAsync(Limit);
            Assert.Equal(3u, again.CurrentEra);
            var result = await Bounded(again.GetBlockErasAsync(0, 64));
            await Bounded(again.StopAsync());
            return result;
        });
        Assert.Equal(2u, eras[5]);
        Assert.Equal(2u, eras[9]);
        Assert.Equal(62, eras.Count(e => e == 0));
    }

    [Fact]
    public async Task A_killed_process_loses_no_acknowledged_write()
    {
        var metadata = new RecordingMetadataDevice(4096);
        var volume = await StartAsync(metadata, new MemoryDevice(4096 * B));
        var acknowledged = new System.Collections.Concurrent.ConcurrentQueue<uint>();
        uint[]? ackedBeforeCrash = null;
        MetadataDevice? image = null;
        var gate = new object();
        var writes = Enumerable.Range(0, 2000).Select(i => Task.Run(async () =>
        {
            var block = (uint)(i * 13 % 4096);
            await volume.WriteAsync(block * (long)B + 17, new byte[100]);
            acknowledged.Enqueue(block);
            // Mid-workload "power cut": the acknowledgements seen so far, then the durable image.
            if (acknowledged.Count >= 1000)
                lock (gate)
                    if (image is null)
                    {
                        ackedBeforeCrash = acknowledged.ToArray();
                        image = metadata.CrashImage();
                    }
        })).ToArray();
        await Bounded(Task.WhenAll(writes));

        var eras = LogicalEras(image!);
        foreach (var block in ackedBeforeCrash!) Assert.Equal(1u, eras[block]);
        Output.WriteLine($"{ackedBeforeCrash!.Length} acknowledged before the crash image, {eras.Count(e => e == 1)} marked in it, 2000 in the end");
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task Kernel_fix_117aceb0_every_durable_metadata_image_reopens_cleanly()
    {
        // A crash right after any flush must leave metadata that opens (the kernel once saved a stale
        // space-map root and corrupted metadata on reopen).
        var metadata = new RecordingMetadataDevice(1024);
        var volume = await StartAsync(metadata, new MemoryDevice(256 * B));
        var rnd = new Random(11);
        for (var i = 0; i < 12; i++)
        {
            await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => volume.WriteAsync(rnd.Next(256) * (long)B, new byte[1]).AsTask()));
            if (i % 3 == 0) await Bounded(volume.CheckpointAsync());
            if (i == 5) await Bounded(volume.TakeMetadataSnapAsync());
            if (i == 9) await Bounded(volume.DropMetadataSnapAsync());
        }
        await Bounded(volume.StopAsync());

        var opened = 0;
        for (var version = 1; version <= metadata.DurableVersion; version++)
        {
            var image = metadata.ImageOf(version);
            // Only a crash during the very first format leaves no superblock; the next start formats again.
            if (EraMetadata.IsZeroed(image)) { Assert.Equal(0, opened); continue; }
            using var md = EraMetadata.Open(image, 8, mayFormat: false);
            Assert.True(LogicalEras(md).Length is 0 or 256);
            opened++;
        }
        Assert.True(opened > 40, $"only {opened} images");
    }

    [Fact]
    public async Task Kernel_fix_c8e846ff_a_block_size_other_than_the_one_on_disk_is_refused()
    {
        var metadata = MetadataDevice.InMemory(1024);
        var origin = new MemoryDevice(64 * B);
        await Bounded((await StartAsync(metadata, origin, 8)).StopAsync());

        var e = await Assert.ThrowsAsync<MetadataException>(() => StartAsync(metadata, origin, 16));
        Assert.Equal("changing the data block size (from 8 to 16) is not supported", e.Message);
    }

    [Fact]
    public async Task An_origin_of_2_pow_31_tracking_blocks_is_refused_at_activation()
    {
        var metadata = MetadataDevice.InMemory(1024);
        var e = await Assert.ThrowsAsync<MetadataException>(() => StartAsync(metadata, new NullDevice((1L << 31) * 4096)));
        Assert.Contains("origin too large", e.Message);
        Assert.True(EraMetadata.IsZeroed(metadata));   // refused before anything was written
    }

    [Fact]
    public async Task A_grown_origin_is_picked_up_at_the_next_activation_with_new_blocks_never_written()
    {
        var metadata = MetadataDevice.InMemory(1024);
        var volume = await StartAsync(metadata, new MemoryDevice(10 * B));
        await Bounded(volume.WriteAsync(9 * B, new byte[1]));
        await Bounded(volume.StopAsync());

        var grown = await StartAsync(metadata, new MemoryDevice(20 * B));
        Assert.Equal(20u, grown.NrBlocks);
        var eras = await Bounded(grown.GetBlockErasAsync(0, 20));
        Assert.Equal(1u, eras[9]);
        Assert.Equal(19, eras.Count(e => e == 0));
        await Bounded(grown.WriteAsync(19 * B, new byte[1]));
        await Bounded(grown.StopAsync());
    }

    [Fact]
    public async Task Kernel_fix_cca2c6ae_a_writeset_recorded_at_a_larger_size_is_clamped_when_digested_after_a_shrink()
    {
        // Digesting with a stale, larger size wrote beyond the era array ("digest step failed").
        var metadata = new RecordingMetadataDevice(1024);
        var volume = await StartAsync(metadata, new MemoryDevice(100 * B));
        await Bounded(volume.WriteAsync(10 * B, new byte[1]));
        await Bounded(volume.WriteAsync(90 * B, new byte[1]));
        var crashed = metadata.AfterCrash();

        var smaller = await StartAsync(crashed, new MemoryDevice(50 * B), name: "smaller");
        await Eventually(async () => !await smaller.HasDigestWorkAsync());
        Assert.Equal(VolumeState.Running, smaller.State);
        var eras = await Bounded(smaller.GetBlockErasAsync(0, 50));
        Assert.Equal(1u, eras[10]);
        await Bounded(smaller.StopAsync());
        using var md = EraMetadata.Open(crashed.CrashImage(), 8, mayFormat: false);
        Assert.Equal(50, EraArray(md).Length);
        Assert.Equal(1u, EraArray(md)[10]);
    }

    [Fact]
    public async Task Stop_refuses_new_requests_and_waits_for_the_ones_in_flight()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var volume = await StartAsync(metadata, new MemoryDevice(64 * B));
        var flushesBefore = metadata.FlushesStarted;
        metadata.FlushGate = new SemaphoreSlim(0);
        var inFlight = volume.WriteAsync(0, new byte[B]).AsTask();
        await Eventually(() => Task.FromResult(metadata.FlushesStarted > flushesBefore));

        var stop = volume.StopAsync();
        await Task.Delay(100);
        Assert.False(stop.IsCompleted);
        Assert.Equal(VolumeState.Stopping, volume.State);
        await Assert.ThrowsAsync<VolumeStoppingException>(() => volume.ReadAsync(0, new byte[1]).AsTask());

        metadata.FlushGate.Release(1000);
        await Bounded(inFlight);
        await Bounded(stop);
        Assert.Equal(1u, LogicalEras(metadata.CrashImage())[0]);
    }

    [Fact]
    public async Task Kernel_fix_9ae6e8b1_after_stop_nothing_more_is_written_and_a_reload_changes_nothing()
    {
        // The kernel's stopped worker could still write digest blocks after the final commit, corrupting the
        // metadata a new instance had loaded.
        var metadata = new RecordingMetadataDevice(1024);
        var volume = await StartAsync(metadata, new MemoryDevice(256 * B));
        var rnd = new Random(5);
        for (var i = 0; i < 8; i++)
        {
            for (var j = 0; j < 20; j++) await Bounded(volume.WriteAsync(rnd.Next(256) * (long)B, new byte[1]));
            await Bounded(volume.CheckpointAsync());
        }
        await Bounded(volume.StopAsync());
        var opsAtStop = metadata.Log.Snapshot().Count;
        var erasAtStop = LogicalEras(metadata.CrashImage());
        await Task.Delay(200);

        Assert.Equal(opsAtStop, metadata.Log.Snapshot().Count);
        using var md = EraMetadata.Open(metadata.CrashImage(), 8, mayFormat: false);
        Assert.True(md.CurrentWriteset.IsNone);
        Assert.False(md.HasDigestWork);
        Assert.Equal(erasAtStop, EraArray(md));
    }
}
