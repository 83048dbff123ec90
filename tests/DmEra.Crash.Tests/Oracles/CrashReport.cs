using System.Diagnostics;

namespace DmEra.Crash.Tests.Oracles;

/// <summary>The figures of one crash run (crash points, states, seeds, time) and every violation, each with what replays it.</summary>
public sealed class CrashReport
{
    private readonly List<string> _violations = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public string Name { get; init; } = "";
    public int Seed { get; init; }
    public int TraceEvents { get; set; }
    public int CrashPoints { get; set; }
    public long States { get; set; }
    public long DoubleCrashStates { get; set; }
    /// <summary>Distinct crashed metadata images recovered (states differing only at the origin share one).</summary>
    public long Recoveries { get; set; }
    /// <summary>Recoveries that stopped with "metadata device is full" (explicit failure; the durable image still answered).</summary>
    public long RefusedFull { get; set; }
    public int EraCheckRuns { get; set; }
    public int DmeraCheckRuns { get; set; }
    public int LeakWarnings { get; set; }
    public int LiveChecks { get; set; }
    public TimeSpan Elapsed => _clock.Elapsed;
    public IReadOnlyList<string> Violations => _violations;

    public void Violation(string message)
    {
        lock (_violations) _violations.Add(message);
    }

    public void Stop() => _clock.Stop();

    public override string ToString() =>
        $"{Name} (seed {Seed}): {TraceEvents} trace events, {CrashPoints} crash points, {States} states, {Recoveries} recoveries" + (RefusedFull > 0 ? $" ({RefusedFull} refused: metadata full)" : "") +
        (DoubleCrashStates > 0 ? $" (+{DoubleCrashStates} double-crash)" : "") +
        $", era_check x{EraCheckRuns}, dmera check x{DmeraCheckRuns}, {LiveChecks} live checks, {LeakWarnings} leak warnings, {_violations.Count} violations, {Elapsed.TotalSeconds:0.0}s";
}
