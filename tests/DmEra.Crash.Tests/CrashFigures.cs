using DmEra.Crash.Tests.Oracles;

namespace DmEra.Crash.Tests;

/// <summary>
/// Totals over the whole run. Each checked workload appends its figures to crash-figures.log beside the
/// tests; at process exit the totals are appended too (xunit 2 has no assembly-wide teardown that can
/// print), so `tail -1 crash-figures.log` gives the run's figures. Harness self-tests are counted apart:
/// their violations are planted.
/// </summary>
public static class CrashFigures
{
    private static readonly object Gate = new();
    private static readonly string LogPath = Path.Combine(AppContext.BaseDirectory, "crash-figures.log");
    private static long _points, _states, _recoveries, _doubleStates, _eraChecks, _violations, _workloads, _selfTestStates;
    private static readonly System.Diagnostics.Stopwatch Clock = System.Diagnostics.Stopwatch.StartNew();

    static CrashFigures() => AppDomain.CurrentDomain.ProcessExit += (_, _) => Append($"TOTAL {Summary()}");

    public static void Add(CrashReport r)
    {
        lock (Gate)
        {
            if (r.Name.StartsWith("self-test", StringComparison.Ordinal))
                _selfTestStates += r.States;
            else
            {
                _workloads++;
                _points += r.CrashPoints;
                _states += r.States;
                _recoveries += r.Recoveries;
                _doubleStates += r.DoubleCrashStates;
                _eraChecks += r.EraCheckRuns;
                _violations += r.Violations.Count;
            }
        }
        Append(r.ToString());
    }

    public static string Summary()
    {
        lock (Gate)
            return $"{_workloads} workloads, {_points} crash points, {_states} crash states (+{_doubleStates} double-crash states), " +
                   $"{_recoveries} recoveries, {_eraChecks} era_check runs, {_violations} violations; {_selfTestStates} self-test states; {Clock.Elapsed.TotalSeconds:0} s";
    }

    private static void Append(string line)
    {
        lock (Gate) File.AppendAllText(LogPath, $"{DateTime.UtcNow:O} {line}{Environment.NewLine}");
    }
}
