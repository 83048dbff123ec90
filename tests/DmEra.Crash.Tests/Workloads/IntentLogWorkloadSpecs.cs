using DmEra.Crash.Tests.Oracles;
using DmEra.Crash.Tests.Recording;
using DmEra.Crash.Tests.Trace;
using Xunit.Abstractions;

namespace DmEra.Crash.Tests.Workloads;

/// <summary>
/// The intent log's own interleavings (issue 18), at the daemon's settings: a background commit of the
/// metadata held in flight (a slow metadata file) while first writes append to the log, era changes and a
/// clean stop settle it, and the log wraps round its 8 blocks. Crashed at every point, with double crashes.
/// </summary>
public sealed class IntentLogWorkloadSpecs(ITestOutputHelper output) : CrashSpec(output)
{
    private static readonly CheckOptions Thorough = new() { EraCheckEvery = 25, DoubleCrashEvery = 40 };
    private const long Block = 4096;

    [Fact]
    public async Task First_writes_logged_while_a_background_commit_is_in_flight_are_tracked_after_any_crash()
    {
        var report = await Bounded(RecordAndCheckAsync("intent-log-background-commit", new RigOptions(Seed: 1801), async rig =>
        {
            await DigestIdleAsync(rig);                     // from here on only background commits write the metadata file
            rig.Metadata.MetadataFileFlushDelayMs = 200;   // the metadata file's flushes only: the log's append is not slowed
            var from = rig.Trace.Events.Count;
            await rig.WriteAsync(1 * Block, 4096);
            await BackgroundCommitStartedAsync(rig, from);
            // The commit of block 1's mark is in its first flush: these marks go to the log beside it.
            await rig.WriteAsync(2 * Block, 4096);
            await Task.WhenAll(rig.WriteAsync(3 * Block, 4096), rig.WriteAsync(4 * Block + 512, 512, fua: true));
            await rig.FlushAsync();
            await rig.WriteAsync(1 * Block + 1024, 1024);   // marked already: no append
            await BackgroundCommitsAsync(rig, 2);           // the marks logged beside the first commit, committed by the next
            await rig.WriteAsync(5 * Block, 4096);
            await rig.CheckpointAsync();                    // settles a commit in flight
            rig.Metadata.MetadataFileFlushDelayMs = 0;
            await rig.WriteAsync(2 * Block, 4096);
            await rig.ReopenAsync();                        // the clean stop settles and empties the log
            await rig.WriteAsync(6 * Block, 4096);
            await rig.FlushAsync();
        }, Thorough));
        AssertNoViolations(report);
        Assert.True(report.States > 100);
    }

    /// <summary>
    /// Waits (bounded) until the metadata file is written after trace event <paramref name="from"/>: a background
    /// commit has started (at a 1 ms interval it may start before the write that asked for it returns).
    /// </summary>
    private static async Task BackgroundCommitStartedAsync(CrashRig rig, int from)
    {
        var metadataBlocks = rig.Metadata.MetadataBlocks;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!rig.Trace.Events.Skip(from).Any(e => e.Kind == EventKind.MetadataWrite && e.Offset < metadataBlocks))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("no background commit started within 30 s");
            await Task.Delay(10);
        }
    }

    private static async Task DigestIdleAsync(CrashRig rig)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await rig.Volume.HasDigestWorkAsync())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the digest did not finish within 30 s");
            await Task.Delay(10);
        }
    }

    /// <summary>Waits (bounded) until <paramref name="count"/> background commits have finished.</summary>
    private static async Task BackgroundCommitsAsync(CrashRig rig, long count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (rig.Volume.Counters.BackgroundCommits < count)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{count} background commits did not finish within 30 s");
            await Task.Delay(10);
        }
    }
}
