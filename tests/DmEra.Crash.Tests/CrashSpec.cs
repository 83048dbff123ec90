using Akka.Configuration;
using DmEra.Crash.Tests.Oracles;
using DmEra.Crash.Tests.Recording;
using DmEra.Engine;
using Xunit.Abstractions;

namespace DmEra.Crash.Tests;

/// <summary>
/// Shared shape of the crash specs: record a workload through the real actors on the TestKit's system,
/// freeze the recording, tear the volume down, then enumerate and check every crash state offline.
/// </summary>
public abstract class CrashSpec : Akka.TestKit.Xunit2.TestKit
{
    private static readonly Config TestConfig = ConfigurationFactory.ParseString("""
        akka.loglevel = ERROR
        akka.stdout-loglevel = ERROR
        """).WithFallback(EngineSettings.DefaultConfig);

    protected CrashSpec(ITestOutputHelper output) : base(TestConfig.WithFallback(DefaultConfig), null, output) => Output = output;

    protected ITestOutputHelper Output { get; }

    /// <summary>Long mode (DMERA_CRASH_LONG=1): bigger caps, longer sequences, more seeds.</summary>
    protected static bool LongMode => Environment.GetEnvironmentVariable("DMERA_CRASH_LONG") is "1" or "true";

    /// <summary>Records <paramref name="workload"/> (the rig is frozen before the volume is stopped) and checks its crash states.</summary>
    protected async Task<CrashReport> RecordAndCheckAsync(string name, RigOptions rig, Func<CrashRig, Task> workload, CheckOptions? check = null)
    {
        RecordedWorkload recorded;
        await using (var r = new CrashRig(Sys, name, rig))
        {
            await r.StartAsync();
            await workload(r);
            recorded = r.Freeze();
        }
        var report = await CrashChecker.RunAsync(Sys, recorded, check ?? new CheckOptions());
        Output.WriteLine(report.ToString());
        CrashFigures.Add(report);
        return report;
    }

    protected static void AssertNoViolations(CrashReport report) =>
        Assert.True(report.Violations.Count == 0,
            $"{report}\n" + string.Join("\n", report.Violations.Take(20)));
}
