using DmEra.Crash.Tests.Oracles;
using DmEra.Crash.Tests.Recording;
using Xunit.Abstractions;

namespace DmEra.Crash.Tests;

/// <summary>
/// The harness must fail when the promise is broken: each planted fault must be caught by the oracle
/// meant for it. A harness that passes everything proves nothing.
/// </summary>
public sealed class HarnessSelfTestSpecs(ITestOutputHelper output) : CrashSpec(output)
{
    private static async Task Workload(CrashRig rig)
    {
        await rig.WriteAsync(0, 4096);
        await rig.WriteAsync(4096 + 100, 700, fua: true);
        await rig.FlushAsync();
        await rig.CheckpointAsync();
        await rig.WriteAsync(8192, 4096);
        await rig.FlushAsync();
    }

    [Fact(Timeout = 60_000)]
    public async Task Metadata_flushes_that_persist_nothing_are_caught_live_and_as_lost_tracking()
    {
        var report = await RecordAndCheckAsync("self-test-metadata-flush-lie", new RigOptions(Seed: 11, Fault: HarnessFault.MetadataFlushIsALie),
            Workload, new CheckOptions { MaxViolations = 1000 });
        Assert.Contains(report.Violations, v => v.Contains("live W2"));
        Assert.Contains(report.Violations, v => v.Contains("(b) block"));
    }

    [Fact(Timeout = 60_000)]
    public async Task Origin_flushes_that_persist_nothing_are_caught_as_lost_acknowledged_writes()
    {
        var report = await RecordAndCheckAsync("self-test-origin-flush-lie", new RigOptions(Seed: 12, Fault: HarnessFault.OriginFlushIsALie),
            Workload, new CheckOptions { MaxViolations = 1000 });
        Assert.Contains(report.Violations, v => v.Contains("(a)"));
        Assert.DoesNotContain(report.Violations, v => v.Contains("(b)") || v.Contains("(c)") || v.Contains("live"));
    }

    [Fact(Timeout = 60_000)]
    public async Task In_core_bits_set_before_their_commit_as_in_kernel_bug_2099b145_are_caught_live_and_as_lost_tracking()
    {
        var report = await RecordAndCheckAsync("self-test-in-core-before-commit", new RigOptions(Seed: 13, Fault: HarnessFault.InCoreBitBeforeCommit),
            Workload, new CheckOptions { MaxViolations = 1000 });
        Assert.Contains(report.Violations, v => v.Contains("live W2"));
        Assert.Contains(report.Violations, v => v.Contains("live W3"));
        Assert.Contains(report.Violations, v => v.Contains("(b) block"));
    }

    [Fact(Timeout = 60_000)]
    public async Task Metadata_writes_that_land_on_a_live_block_are_caught_live_and_by_the_checker()
    {
        var report = await RecordAndCheckAsync("self-test-misdirected-write", new RigOptions(Seed: 14, Fault: HarnessFault.MisdirectedMetadataWrite),
            Workload, new CheckOptions { MaxViolations = 1000 });
        Assert.Contains(report.Violations, v => v.Contains("live W1"));
        Assert.Contains(report.Violations, v => v.Contains("(c)"));
    }

    [Fact(Timeout = 60_000)]
    public async Task The_all_state_of_the_last_crash_point_is_exactly_what_the_devices_hold()
    {
        byte[]?[] liveMetadata = [];
        byte[] liveOrigin = [];
        var recorded = await RecordAsync("self-test-materialiser", new RigOptions(Seed: 15), async rig =>
        {
            await Workload(rig);
            await rig.TrimAsync(4096, 4096);
            await rig.WriteZeroesAsync(100, 9000);
            rig.Trace.Freeze();   // the devices' contents now are what the trace describes
            liveMetadata = rig.Metadata.Image();
            liveOrigin = rig.Origin.Image();
        });
        var last = Enumeration.CrashPointWalker.Walk(recorded).Last();
        var state = Enumeration.CrashStateEnumerator.For(last, new Enumeration.StateSampling()).Single(s => s.Family == "all");
        var image = Enumeration.CrashImageBuilder.Build(last, state);
        Assert.Equal(liveOrigin, image.Origin);
        var rebuilt = image.Metadata.Snapshot();
        for (var b = 0; b < liveMetadata.Length; b++)
            Assert.True((liveMetadata[b] ?? new byte[4096]).AsSpan().SequenceEqual(rebuilt[b] ?? new byte[4096]), $"metadata block {b} differs");
    }
}
