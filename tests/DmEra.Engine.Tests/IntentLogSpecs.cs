using Akka.Actor;
using Akka.Configuration;
using DmEra.Engine.Tests.Fakes;
using DmEra.Metadata.IntentLog;
using DmEra.Metadata.PersistentData;
using DmEra.Storage.Devices;

namespace DmEra.Engine.Tests;

/// <summary>
/// First writes through the intent log (issue 18): a batch is durable after one log append and flush, the
/// metadata follows in background commits, a restart replays the log, and every era change, metadata
/// snapshot and clean stop leaves the metadata holding every mark (what era_invalidate reads).
/// </summary>
public sealed class IntentLogSpecs(ITestOutputHelper output) : EngineSpec(output, ConfigurationFactory.ParseString(
    "dmera.engine.intent-log-commit-interval = 1h\ndmera.engine.intent-log-commit-marks = 1000000"))
{
    private const int B = 4096;

    private Task<EraVolume> StartLoggedAsync(MetadataDevice metadata, MetadataDevice log, IBlockDevice origin, ActorSystem? system = null) =>
        EraVolume.StartAsync(system ?? Sys, "v", metadata, origin, 8, log).WaitAsync(Limit);

    [Fact]
    public async Task A_first_write_is_durable_after_one_log_flush_without_a_metadata_commit()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var log = new RecordingMetadataDevice(64);
        var volume = await StartLoggedAsync(metadata, log, new MemoryDevice(64 * B));
        var (metaFlushes, logFlushes) = (metadata.FlushesStarted, log.FlushesStarted);
        for (var i = 0; i < 10; i++) await Bounded(volume.WriteAsync(i * 3L * B, new byte[B]));
        Assert.Equal(10, log.FlushesStarted - logFlushes);
        Assert.Equal(0, metadata.FlushesStarted - metaFlushes);
        Assert.Equal(10, volume.Counters.Commits);
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task A_crash_keeps_every_acknowledged_mark_and_the_restart_puts_it_into_the_metadata()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var log = new RecordingMetadataDevice(64);
        var origin = new MemoryDevice(64 * B);
        var volume = await StartLoggedAsync(metadata, log, origin);
        await Bounded(volume.CheckpointAsync());   // era 2
        await Bounded(volume.WriteAsync(5 * B, new byte[B]));
        await Bounded(volume.WriteAsync(9 * B, new byte[B]));
        var (crashedMetadata, crashedLog) = (metadata.AfterCrash(), log.AfterCrash());   // power cut
        Assert.Equal(0u, LogicalEras(crashedMetadata.CrashImage())[5]);   // the metadata alone lags behind
        Assert.Equal(2, IntentLogScan.Read(crashedLog.CrashImage()).Marks);

        var eras = await InSystemTwo(async two =>
        {
            var again = await StartLoggedAsync(crashedMetadata, crashedLog, origin, two);
            Assert.Equal(3u, again.CurrentEra);
            var result = await Bounded(again.GetBlockErasAsync(0, 64));
            // Recovery committed the replayed marks: the metadata alone answers era_invalidate now.
            Assert.Equal(2u, LogicalEras(crashedMetadata.CrashImage())[9]);
            await Bounded(again.StopAsync());
            return result;
        });
        Assert.Equal(2u, eras[5]);
        Assert.Equal(2u, eras[9]);
        Assert.Equal(62, eras.Count(e => e == 0));
    }

    [Fact]
    public async Task Take_metadata_snap_checkpoint_and_a_clean_stop_leave_every_logged_mark_in_the_metadata()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var log = new RecordingMetadataDevice(64);
        var volume = await StartLoggedAsync(metadata, log, new MemoryDevice(64 * B));
        await Bounded(volume.WriteAsync(3 * B, new byte[B]));
        await Bounded(volume.TakeMetadataSnapAsync());
        Assert.Equal(1u, LogicalEras(metadata.CrashImage())[3]);
        await Bounded(volume.DropMetadataSnapAsync());

        await Bounded(volume.WriteAsync(4 * B, new byte[B]));
        await Bounded(volume.CheckpointAsync());
        Assert.Equal(2u, LogicalEras(metadata.CrashImage())[4]);

        await Bounded(volume.WriteAsync(6 * B, new byte[B]));
        await Bounded(volume.StopAsync());
        Assert.Equal(3u, LogicalEras(metadata.CrashImage())[6]);
        Assert.Empty(IntentLogScan.Read(log.CrashImage()).Records);
    }

    [Fact]
    public async Task A_log_that_fills_up_commits_the_metadata_and_keeps_accepting_writes()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var log = new RecordingMetadataDevice(IntentLogFormat.MinBlocks);   // room for a handful of records
        var origin = new MemoryDevice(256 * B);
        var volume = await StartLoggedAsync(metadata, log, origin);
        for (var i = 0; i < 200; i++) await Bounded(volume.WriteAsync(i * B, new byte[B]));
        Assert.True(volume.Counters.BackgroundCommits > 0 || metadata.FlushesStarted > 4, "the log was never freed");
        // The log's image first: a background commit may finish between the two, and its metadata commit comes
        // before it moves the log's head, so any mark the log image has lost is in the later metadata image.
        var crashedLog = log.AfterCrash();
        var crashedMetadata = metadata.AfterCrash();
        var eras = await InSystemTwo(async two =>
        {
            var again = await StartLoggedAsync(crashedMetadata, crashedLog, origin, two);
            var result = await Bounded(again.GetBlockErasAsync(0, 256));
            await Bounded(again.StopAsync());
            return result;
        });
        Assert.All(eras[..200], e => Assert.Equal(1u, e));
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task A_batch_no_log_of_its_size_could_hold_is_made_durable_by_a_metadata_commit_instead_of_failing_the_volume()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var log = new RecordingMetadataDevice(IntentLogFormat.MinBlocks);
        var origin = new MemoryDevice(4096 * B);
        var volume = await StartLoggedAsync(metadata, log, origin);
        await Bounded(volume.WriteAsync(0, new byte[2100 * B]));   // one batch of 2,100 marks: 17 sectors and a block of slack, the area is 24
        await Bounded(volume.WriteAsync(3000 * B, new byte[B]));   // and the log still takes the next small one
        // The log's image first: a background commit may finish between the two, and its metadata commit comes
        // before it moves the log's head, so any mark the log image has lost is in the later metadata image.
        var crashedLog = log.AfterCrash();
        var crashedMetadata = metadata.AfterCrash();
        Assert.All(LogicalEras(crashedMetadata.CrashImage())[..2100], e => Assert.Equal(1u, e));
        var eras = await InSystemTwo(async two =>
        {
            var again = await StartLoggedAsync(crashedMetadata, crashedLog, origin, two);
            var result = await Bounded(again.GetBlockErasAsync(0, 4096));
            await Bounded(again.StopAsync());
            return result;
        });
        Assert.All(eras[..2100], e => Assert.Equal(1u, e));
        Assert.Equal(1u, eras[3000]);
        await Bounded(volume.StopAsync());
    }
}

/// <summary>Background commits on their own schedule: with a short interval, the metadata catches up with no admin command.</summary>
public sealed class IntentLogBackgroundSpecs(ITestOutputHelper output) : EngineSpec(output, ConfigurationFactory.ParseString(
    "dmera.engine.intent-log-commit-interval = 20ms"))
{
    [Fact]
    public async Task Logged_marks_reach_the_metadata_in_a_background_commit_and_free_the_log()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var log = new RecordingMetadataDevice(64);
        var volume = await EraVolume.StartAsync(Sys, "v", metadata, new MemoryDevice(64 * 4096), 8, log).WaitAsync(Limit);
        await Bounded(volume.WriteAsync(7 * 4096, new byte[4096]));
        await Eventually(() => Task.FromResult(volume.Counters.BackgroundCommits > 0 && IntentLogScan.Read(log.CrashImage()).Records.Count == 0));
        Assert.Equal(1u, LogicalEras(metadata.CrashImage())[7]);
        await Bounded(volume.StopAsync());
    }
}
