using DmEra.Storage.Devices;
using DmEra.Crash.Tests.Oracles;
using DmEra.Crash.Tests.Recording;
using DmEra.Crash.Tests.Devices;
using DmEra.Engine;
using Xunit.Abstractions;

namespace DmEra.Crash.Tests.Workloads;

/// <summary>
/// One named scenario per kernel bug of reference/dm-era.md §4 that lost tracking or corrupted metadata
/// across a crash, each crashed at every point of its trace.
/// </summary>
public sealed class KernelBugScenarioSpecs(ITestOutputHelper output) : CrashSpec(output)
{
    private static readonly CheckOptions Thorough = new() { EraCheckEvery = 25, DoubleCrashEvery = 150 };

    /// <summary>de89afc1: the committed writeset of the current era was dropped on reopen after a crash.</summary>
    [Fact(Timeout = 120_000)]
    public async Task A_write_flushed_without_a_checkpoint_is_still_tracked_after_any_crash_fix_de89afc1()
    {
        var report = await RecordAndCheckAsync("de89afc1-committed-writeset", new RigOptions(Seed: 601), async rig =>
        {
            await rig.WriteAsync(0, 4096);
            await rig.FlushAsync();
        }, Thorough);
        AssertNoViolations(report);
        Assert.True(report.States > 100);
    }

    /// <summary>de89afc1 (2): the resize on the next start wiped the loaded writeset. Here the origin grows between the crash and the restart.</summary>
    [Fact(Timeout = 120_000)]
    public async Task A_crash_left_writeset_survives_a_resize_at_the_next_start_fix_de89afc1()
    {
        var report = await RecordAndCheckAsync("de89afc1-resize-keeps-writeset", new RigOptions(Seed: 602, OriginCapacity: 24 * 4096), async rig =>
        {
            await rig.WriteAsync(4096 * 15, 4096);
            await rig.WriteAsync(100, 10, fua: true);
            rig.Origin.Resize(24 * 4096);   // the crash points after this restart on a grown origin
        }, Thorough);
        AssertNoViolations(report);
    }

    /// <summary>2099b145: the in-core bit was set before the commit, so a second write to the block overtook it.</summary>
    [Fact(Timeout = 120_000)]
    public async Task Concurrent_writes_to_one_block_during_a_slow_commit_all_wait_for_it_fix_2099b145()
    {
        var report = await RecordAndCheckAsync("2099b145-in-core-after-commit", new RigOptions(Seed: 603, Latency: true), async rig =>
        {
            for (var round = 0; round < 3; round++)
            {
                var writes = Enumerable.Range(0, 6).Select(i => rig.WriteAsync(round * 4096 + i * 512, 512)).ToList();
                writes.Add(rig.FlushAsync());
                await Task.WhenAll(writes);
                if (round == 1) await rig.CheckpointAsync();
            }
        }, Thorough);
        AssertNoViolations(report);
    }

    /// <summary>2524933: the digest reused the first writeset's cached word for later eras (≤ 64 blocks).</summary>
    [Fact(Timeout = 120_000)]
    public async Task Digesting_several_small_writesets_keeps_each_blocks_own_era_fix_2524933()
    {
        var report = await RecordAndCheckAsync("2524933-digest-per-writeset", new RigOptions(Seed: 604), async rig =>
        {
            for (var era = 0; era < 4; era++)
            {
                await rig.WriteAsync(4096L * (1 + era), 4096);
                await rig.CheckpointAsync();
            }
            await rig.ReopenAsync();   // the stop drains the digest; the crash points inside it are checked too
        }, Thorough);
        AssertNoViolations(report);
    }

    /// <summary>c8e846ff: a different block size was silently taken from the disk.</summary>
    [Fact(Timeout = 60_000)]
    public async Task Restarting_a_crashed_volume_with_another_block_size_is_refused_fix_c8e846ff()
    {
        var recorded = await RecordAsync("c8e846ff-block-size", new RigOptions(Seed: 605), async rig =>
        {
            await rig.WriteAsync(0, 4096);
        });
        var crashed = new ImageMetadataDevice(recorded.Events.Where(e => e.Kind == Trace.EventKind.MetadataWrite)
            .Aggregate((byte[]?[])recorded.InitialMetadata.Clone(), (img, e) => { img[e.Offset] = e.Data; return img; }));
        var error = await Record.ExceptionAsync(() =>
            EraVolume.StartAsync(Sys, "other-size", crashed, new MemoryDevice(recorded.InitialOriginSize), 16));
        Assert.NotNull(error);
        Assert.Contains("block size", error.Message);
    }

    /// <summary>cca2c6ae: resize must happen at activation, before any digest runs with the old size.</summary>
    [Fact(Timeout = 120_000)]
    public async Task A_crash_anywhere_in_a_shrink_or_grow_with_digest_work_pending_loses_nothing_fix_cca2c6ae()
    {
        var report = await RecordAndCheckAsync("cca2c6ae-resize-at-activation", new RigOptions(Seed: 606, OriginCapacity: 32 * 4096), async rig =>
        {
            await rig.WriteAsync(4096 * 14, 8192);
            await rig.CheckpointAsync();
            await rig.WriteAsync(4096 * 3, 4096);
            await rig.CheckpointAsync();
            await rig.ResizeAsync(10 * 4096);   // shrink below the written blocks
            await rig.WriteAsync(4096 * 9, 4096);
            await rig.ResizeAsync(32 * 4096);   // and grow again
            await rig.WriteAsync(4096 * 31, 4096);
        }, Thorough);
        AssertNoViolations(report);
    }

    /// <summary>9ae6e8b1: postsuspend committed before the worker stopped; later digest writes could land after the hand-over.</summary>
    [Fact(Timeout = 120_000)]
    public async Task A_crash_during_a_clean_stop_with_digest_work_loses_nothing_fix_9ae6e8b1()
    {
        var report = await RecordAndCheckAsync("9ae6e8b1-stop-after-worker", new RigOptions(Seed: 607), async rig =>
        {
            await rig.WriteAsync(0, 4096 * 3);
            await rig.CheckpointAsync();
            await rig.WriteAsync(4096 * 5, 100);
            await rig.CheckpointAsync();
            await rig.WriteAsync(4096 * 2, 4096);
            await rig.StopAsync();
            await rig.StartAsync();
            await rig.WriteAsync(4096 * 7, 4096);
        }, Thorough);
        AssertNoViolations(report);
    }

    /// <summary>117aceb0 / 5a32083d: the superblock must carry the space map root of the pre-commit; the checker recounts every reference.</summary>
    [Fact(Timeout = 120_000)]
    public async Task Every_commit_leaves_space_map_counts_that_match_the_references_fix_117aceb0()
    {
        var report = await RecordAndCheckAsync("117aceb0-space-map-root", new RigOptions(Seed: 608, OriginBytes: 64 * 4096), async rig =>
        {
            for (var i = 0; i < 6; i++) await rig.WriteAsync(4096L * (i * 9 % 64), 4096);
            await rig.TakeMetadataSnapAsync();
            await rig.WriteAsync(4096 * 63, 4096);
            await rig.DropMetadataSnapAsync();
            await rig.CheckpointAsync();
        }, Thorough);
        AssertNoViolations(report);
    }
}
