using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace DmEra.Micro.Bench.GroupCommit;

/// <summary>A summary column computed from the commit counters a group-commit case logged.</summary>
public sealed class CommitCounterColumn(string name, string legend, Func<CommitTotals, double> value, string format) : IColumn
{
    public static readonly CommitCounterColumn CommitsPerSecond =
        new("Commits/s", "Metadata commits that carried first-write bits, per second of timed writing", t => t.CommitsPerSecond, "N0");

    public static readonly CommitCounterColumn BitsPerCommit =
        new("Bits/commit", "Blocks (= first-writes here) marked per commit: how much each fdatasync carried", t => t.BitsPerCommit, "N1");

    public string Id => $"{nameof(CommitCounterColumn)}.{name}";
    public string ColumnName => name;
    public string Legend => legend;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;

    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var queueDepth = benchmarkCase.Parameters[nameof(GroupCommitBenchmarks.QueueDepth)];
        var key = CommitCounterLog.Key(benchmarkCase.Descriptor.WorkloadMethod.Name, Convert.ToInt32(queueDepth));
        return CommitCounterLog.ReadAll().TryGetValue(key, out var totals) ? value(totals).ToString(format) : "?";
    }
}
