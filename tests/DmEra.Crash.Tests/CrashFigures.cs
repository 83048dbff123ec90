using DmEra.Crash.Tests.Oracles;

namespace DmEra.Crash.Tests;

/// <summary>Totals over the whole run, appended to a figures file the suite's last test prints (xunit has no global teardown hook that can write to the output).</summary>
public static class CrashFigures
{
    private static readonly object Gate = new();
    public static long Points, States, DoubleStates, EraChecks, Violations, Workloads;

    public static void Add(CrashReport r)
    {
        lock (Gate)
        {
            Workloads++;
            Points += r.CrashPoints;
            States += r.States;
            DoubleStates += r.DoubleCrashStates;
            EraChecks += r.EraCheckRuns;
            Violations += r.Violations.Count;
        }
        var line = $"{DateTime.UtcNow:O} {r}";
        lock (Gate) File.AppendAllText(Path.Combine(AppContext.BaseDirectory, "crash-figures.log"), line + Environment.NewLine);
    }

    public static string Summary()
    {
        lock (Gate)
            return $"{Workloads} workloads, {Points} crash points, {States} crash states (+{DoubleStates} double-crash), {EraChecks} era_check runs, {Violations} violations";
    }
}
