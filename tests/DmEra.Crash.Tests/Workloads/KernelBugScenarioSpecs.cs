using DmEra.Crash.Tests.Oracles;
using DmEra.Crash.Tests.Recording;
using Xunit.Abstractions;

namespace DmEra.Crash.Tests.Workloads;

/// <summary>One named scenario per kernel bug of reference/dm-era.md §4 that can lose tracking or corrupt metadata across a crash.</summary>
public sealed class KernelBugScenarioSpecs(ITestOutputHelper output) : CrashSpec(output)
{
    [Fact(Timeout = 60_000)]
    public async Task A_write_flushed_without_a_checkpoint_is_still_tracked_after_any_crash_fix_de89afc1()
    {
        var report = await RecordAndCheckAsync("bug1-committed-writeset", new RigOptions(Seed: 601), async rig =>
        {
            await rig.WriteAsync(0, 4096);
            await rig.FlushAsync();
        }, new CheckOptions { EraCheckEvery = 10 });
        AssertNoViolations(report);
        Assert.True(report.States > 20);
    }
}
