using DmEra.Metadata.Era;
using DmEra.Engine.Tests.Fakes;
using DmEra.Metadata.PersistentData;

namespace DmEra.Engine.Tests;

public sealed class CheckpointAndDigestSpecs(ITestOutputHelper output) : EngineSpec(output)
{
    private const int B = 4096;

    [Fact]
    public async Task A_checkpoint_advances_the_era_by_one_and_the_status_line_shows_it()
    {
        var volume = await StartAsync(Memory(1024), new MemoryDevice(100 * B));
        Assert.Equal(1u, volume.CurrentEra);
        Assert.Matches(@"^8 \d+/1024 1 -$", await Bounded(volume.StatusAsync()));

        Assert.Equal(2u, await Bounded(volume.CheckpointAsync()));
        Assert.Matches(@"^8 \d+/1024 2 -$", await Bounded(volume.StatusAsync()));
        await Bounded(volume.SendMessageAsync("checkpoint"));
        Assert.Equal(3u, volume.CurrentEra);
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task A_write_after_a_checkpoint_is_a_first_write_again_and_lands_in_the_new_era()
    {
        var volume = await StartAsync(Memory(), new MemoryDevice(100 * B));
        await Bounded(volume.WriteAsync(0, new byte[B]));
        var era2 = await Bounded(volume.CheckpointAsync());
        var commits = volume.Counters.Commits;
        await Bounded(volume.WriteAsync(0, new byte[B]));

        Assert.Equal(commits + 1, volume.Counters.Commits);
        Assert.Equal(era2, (await Bounded(volume.GetBlockErasAsync(0, 1)))[0]);
        Assert.Equal(new[] { true, false }, await Bounded(volume.GetWrittenSinceAsync(era2, 0, 2)));
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task A_checkpoint_waits_for_the_first_write_commit_in_flight_which_lands_in_the_old_era()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var volume = await StartAsync(metadata, new MemoryDevice(64 * B));
        var flushesBefore = metadata.FlushesStarted;
        metadata.FlushGate = new SemaphoreSlim(0);
        var write = volume.WriteAsync(4 * B, new byte[1]).AsTask();
        await Eventually(() => Task.FromResult(metadata.FlushesStarted > flushesBefore));
        var queued = volume.WriteAsync(5 * B, new byte[1]).AsTask();   // collected for the next commit
        var checkpoint = CheckpointAfterAMoment(volume);
        await Task.Delay(100);
        Assert.False(checkpoint.IsCompleted);

        metadata.FlushGate.Release(10_000);
        Assert.Equal(2u, await Bounded(checkpoint));
        await Bounded(Task.WhenAll(write, queued));
        var eras = await Bounded(volume.GetBlockErasAsync(0, 8));
        Assert.Equal(1u, eras[4]);
        Assert.Equal(1u, eras[5]);   // committed before the rollover, in the era it was issued in
        await Bounded(volume.StopAsync());
    }

    private static async Task<uint> CheckpointAfterAMoment(EraVolume volume)
    {
        await Task.Delay(20);
        return await volume.CheckpointAsync();
    }

    [Fact]
    public async Task Checkpoints_under_load_keep_every_write_in_an_era_between_its_start_and_its_completion()
    {
        var metadata = MetadataDevice.InMemory(4096);
        var volume = await StartAsync(metadata, new MemoryDevice(512 * B));
        var bounds = new System.Collections.Concurrent.ConcurrentDictionary<uint, (uint Lo, uint Hi)>();
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var rnd = new Random(w);
            while (!stop.IsCancellationRequested)
            {
                var block = (uint)rnd.Next(512);
                var before = volume.CurrentEra;
                await volume.WriteAsync(block * (long)B + rnd.Next(B - 8), new byte[8]);
                var after = volume.CurrentEra;
                // Last completed write wins; concurrent writes to one block make the window the union.
                bounds.AddOrUpdate(block, (before, after), (_, old) => (Math.Min(Math.Max(old.Lo, before), before), Math.Max(old.Hi, after)));
            }
        })).ToArray();
        for (var i = 0; i < 20; i++)
        {
            await Task.Delay(5);
            await Bounded(volume.CheckpointAsync());
        }
        stop.Cancel();
        await Bounded(Task.WhenAll(writers));

        var eras = await Bounded(volume.GetBlockErasAsync(0, 512));
        Assert.True(bounds.Count > 100);
        foreach (var (block, (lo, hi)) in bounds)
            Assert.InRange(eras[block], lo, hi);
        await Bounded(volume.StopAsync());
        Assert.Equal(eras, LogicalEras(metadata));
    }

    [Fact]
    public async Task Digest_folds_archived_writesets_into_the_era_array_oldest_first_matching_a_model()
    {
        var metadata = MetadataDevice.InMemory(4096);
        var nrBlocks = 70_000;   // more than one bitset array block (32576 bits), a partial last array block
        var volume = await StartAsync(metadata, new NullDevice(nrBlocks * (long)B));
        var model = new uint[nrBlocks];
        var rnd = new Random(7);
        for (var era = 0; era < 6; era++)
        {
            for (var i = 0; i < 300; i++)
            {
                var block = rnd.Next(nrBlocks);
                await Bounded(volume.WriteAsync(block * (long)B, new byte[1]));
                model[block] = volume.CurrentEra;
            }
            await Bounded(volume.CheckpointAsync());
        }
        Assert.Equal(model, await Bounded(volume.GetBlockErasAsync(0, nrBlocks)));
        // The background digest empties the writeset tree while the volume runs.
        await Eventually(async () => !await volume.HasDigestWorkAsync());
        Assert.Equal(model, await Bounded(volume.GetBlockErasAsync(0, nrBlocks)));
        await Bounded(volume.StopAsync());

        using var md = EraMetadata.Open(metadata, 8, mayFormat: false);
        Assert.True(md.CurrentWriteset.IsNone);      // stop archived it ...
        Assert.False(md.HasDigestWork);              // ... and drained the digest (fix 9ae6e8b1)
        Assert.Equal(model, EraArray(md));
    }

    [Fact]
    public async Task Kernel_fix_2524933307_each_writeset_is_digested_with_a_fresh_bitset_reader()
    {
        // With <= 64 blocks the kernel reused the first writeset's cached word for every later writeset.
        var metadata = MetadataDevice.InMemory(1024);
        var volume = await StartAsync(metadata, new MemoryDevice(40 * B));
        await Bounded(volume.WriteAsync(0, new byte[1]));          // era 1: block 0
        await Bounded(volume.CheckpointAsync());
        await Bounded(volume.WriteAsync(3 * B, new byte[1]));      // era 2: block 3
        await Bounded(volume.CheckpointAsync());
        await Bounded(volume.WriteAsync(39 * B, new byte[1]));     // era 3: block 39
        await Bounded(volume.StopAsync());

        using var md = EraMetadata.Open(metadata, 8, mayFormat: false);
        var expected = new uint[40];
        expected[0] = 1; expected[3] = 2; expected[39] = 3;
        Assert.Equal(expected, EraArray(md));
    }

    [Fact]
    public async Task Many_checkpoints_do_not_exhaust_metadata_because_digesting_reclaims_it()
    {
        // DMTEST many_eras_does_not_exhaust_metadata, scaled: 400 eras of writes on 256 metadata blocks.
        var metadata = MetadataDevice.InMemory(256);
        var volume = await StartAsync(metadata, new MemoryDevice(2048 * B));
        var rnd = new Random(3);
        var usedAt100 = 0;
        for (var i = 0; i < 400; i++)
        {
            for (var j = 0; j < 4; j++) await Bounded(volume.WriteAsync(rnd.Next(2048) * (long)B, new byte[1]));
            await Bounded(volume.CheckpointAsync());
            if (i == 99) usedAt100 = Used(await Bounded(volume.StatusAsync()));
        }
        var status = await Bounded(volume.StatusAsync());
        // Each era allocates a new writeset; without digesting, 400 of them could never fit in 256 blocks.
        Assert.InRange(Used(status), 1, usedAt100 + 16);
        Output.WriteLine(status);
        Assert.Equal(VolumeStateRunning, volume.State);
        Assert.Matches(@"^8 \d+/256 401 -$", status);
        await Bounded(volume.StopAsync());
    }

    private static int Used(string status) => int.Parse(status.Split(' ')[1].Split('/')[0]);

    private const DmEra.Engine.Tracking.VolumeState VolumeStateRunning = DmEra.Engine.Tracking.VolumeState.Running;
}
