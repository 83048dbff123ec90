using System.Globalization;

namespace DmEra.Micro.Bench.GroupCommit;

/// <summary>
/// Carries commit counters from BenchmarkDotNet's child processes, where the volumes run, to the host that
/// prints the summary: one tab-separated line per case in the file named by <see cref="PathVariable"/>
/// (Program sets it; children inherit the environment).
/// </summary>
public static class CommitCounterLog
{
    public const string PathVariable = "DMERA_MICRO_COMMIT_COUNTERS";

    public static string Key(string benchmark, int queueDepth) => $"{benchmark}/QD{queueDepth}";

    public static void Append(string key, CommitTotals t)
    {
        if (Environment.GetEnvironmentVariable(PathVariable) is not { Length: > 0 } path) return;
        var line = string.Join('\t', key, t.Commits, t.FirstWrites, t.BlocksMarked, t.Seconds.ToString("R", CultureInfo.InvariantCulture));
        File.AppendAllLines(path, [line]);
    }

    /// <summary>The last line per key (a case run twice reports its latest run).</summary>
    public static IReadOnlyDictionary<string, CommitTotals> ReadAll()
    {
        var totals = new Dictionary<string, CommitTotals>();
        if (Environment.GetEnvironmentVariable(PathVariable) is not { Length: > 0 } path || !File.Exists(path)) return totals;
        foreach (var line in File.ReadAllLines(path))
        {
            var f = line.Split('\t');
            if (f.Length != 5) continue;
            totals[f[0]] = new CommitTotals(long.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[2], CultureInfo.InvariantCulture),
                long.Parse(f[3], CultureInfo.InvariantCulture), double.Parse(f[4], CultureInfo.InvariantCulture));
        }
        return totals;
    }
}
