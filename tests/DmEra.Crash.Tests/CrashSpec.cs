using Akka.Actor;
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
        """).WithFallback(IntervalOverride()).WithFallback(EngineSettings.DefaultConfig);

    /// <summary>
    /// DMERA_CRASH_COMMIT_INTERVAL (e.g. <c>1ms</c>) overrides intent-log-commit-interval, so that recorded
    /// workloads (milliseconds long) have background commits in flight beside log appends, era changes and
    /// stops; the default run keeps akka.hocon's interval, as the daemon does.
    /// </summary>
    private static Config IntervalOverride() =>
        Environment.GetEnvironmentVariable("DMERA_CRASH_COMMIT_INTERVAL") is { Length: > 0 } interval
            ? ConfigurationFactory.ParseString($"dmera.engine.intent-log-commit-interval = {interval}")
            : Config.Empty;

    /// <summary>
    /// Recovery of thousands of crash states runs on its own system whose metadata writer uses the shared
    /// thread pool instead of a pinned thread each (a thread per recovered volume costs more than the
    /// checks). The actors and their logic are the daemon's; only the thread they run on differs.
    /// </summary>
    private static readonly Config CheckConfig = ConfigurationFactory.ParseString("""
        dmera.engine.metadata-dispatcher { type = Dispatcher, throughput = 100 }
        """).WithFallback(TestConfig);

    private readonly Lazy<ActorSystem> _checkSystem;
    private readonly CancellationTokenSource _abandoned = new();

    protected CrashSpec(ITestOutputHelper output) : base(TestConfig.WithFallback(DefaultConfig), null, output)
    {
        _checkSystem = new Lazy<ActorSystem>(() => Environment.GetEnvironmentVariable("DMERA_CRASH_POOL") == "1" ? ActorSystem.Create("crash-check", CheckConfig) : Sys);
    }

    /// <summary>The system crash states are recovered on.</summary>
    protected ActorSystem CheckSystem => _checkSystem.Value;

    /// <summary>Long mode (DMERA_CRASH_LONG=1): bigger caps, longer sequences, more seeds.</summary>
    protected static bool LongMode => Environment.GetEnvironmentVariable("DMERA_CRASH_LONG") is "1" or "true";

    /// <summary>
    /// The time bound of a test that long mode stretches (xunit's Timeout must be a constant, so these
    /// tests bound themselves): 4 minutes by default, 24 hours in long mode, or DMERA_CRASH_BUDGET_MINUTES
    /// (a run with DMERA_CRASH_COMMIT_INTERVAL=1ms on a loaded machine needs more than 4).
    /// </summary>
    protected static TimeSpan Budget =>
        int.TryParse(Environment.GetEnvironmentVariable("DMERA_CRASH_BUDGET_MINUTES"), out var minutes) && minutes > 0 ? TimeSpan.FromMinutes(minutes)
        : LongMode ? TimeSpan.FromHours(24) : TimeSpan.FromMinutes(4);

    protected Task Bounded(Task work) => Bounded(Bool(work));
    protected async Task<T> Bounded<T>(Task<T> work)
    {
        try { return await work.WaitAsync(Budget); }
        catch (TimeoutException)
        {
            _abandoned.Cancel();
            throw;
        }
    }

    private static async Task<bool> Bool(Task work)
    {
        await work;
        return true;
    }

    /// <summary>
    /// The test stopped waiting for its work (its time bound passed) or its actor system is going away. The
    /// work goes on in the background until it looks here: past this point nothing it records or checks is a
    /// finding. Without this, a bounded test that ran out of time went on recording against the terminated
    /// system ("Cannot create child while terminating or terminated"), and every later workload was counted
    /// as violations with its trace kept (the 87 "violations" of the 1 ms intent-log runs).
    /// </summary>
    protected bool Abandoned => _abandoned.IsCancellationRequested || Sys.WhenTerminated.IsCompleted;

    /// <summary>Records <paramref name="workload"/> (the rig is frozen before the volume is stopped) and checks its crash states.</summary>
    protected async Task<CrashReport> RecordAndCheckAsync(string name, RigOptions rig, Func<CrashRig, Task> workload, CheckOptions? check = null)
    {
        var recorded = await RecordAsync(name, rig, workload);
        return await CheckAsync(recorded, check);
    }

    protected async Task<RecordedWorkload> RecordAsync(string name, RigOptions rig, Func<CrashRig, Task> workload)
    {
        await using var r = new CrashRig(Sys, name, rig);
        await r.StartAsync();
        await workload(r);
        return r.Freeze();
    }

    protected async Task<CrashReport> CheckAsync(RecordedWorkload recorded, CheckOptions? check = null)
    {
        var report = await CrashChecker.RunAsync(CheckSystem, recorded, check ?? new CheckOptions());
        if (Abandoned) throw new OperationCanceledException($"{recorded.Name}: abandoned (time bound passed or the actor system stopped); its results are not counted");
        Output.WriteLine(report.ToString());
        CrashFigures.Add(report);
        if (report.Violations.Count > 0 && !recorded.Name.StartsWith("self-test", StringComparison.Ordinal))
            Output.WriteLine($"trace kept for replay: {TraceDump.Write(recorded)}");
        return report;
    }

    protected override void AfterAll()
    {
        if (_checkSystem.IsValueCreated && _checkSystem.Value != Sys) Shutdown(_checkSystem.Value, TimeSpan.FromSeconds(10));
        base.AfterAll();
    }

    protected static void AssertNoViolations(CrashReport report) =>
        Assert.True(report.Violations.Count == 0,
            $"{report}\n" + string.Join("\n", report.Violations.Take(20)));
}
