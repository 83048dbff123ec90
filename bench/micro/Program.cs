// DmEra micro benchmarks (BenchmarkDotNet). Usage: bench/micro/run.sh, or
//   dotnet run -c Release --project bench/micro -- --filter '*' [--anyCategories bitset nbd ...]
using BenchmarkDotNet.Running;
using DmEra.Micro.Bench.GroupCommit;

// The group-commit benchmarks run in child processes and report their commit counters through this file;
// the host's summary columns read it. One file per run, so no stale numbers from an earlier run show up.
var counters = Path.Combine(Path.GetTempPath(), $"dmera-micro-commits-{Environment.ProcessId}.tsv");
Environment.SetEnvironmentVariable(CommitCounterLog.PathVariable, counters);
try
{
    var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args).ToList();
    // BenchmarkDotNet prints a failed case (its self-check threw) in the summary and still exits 0; a
    // script running the suite must see the failure.
    var failed = summaries.Where(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)).Select(s => s.Title).ToList();
    foreach (var title in failed) Console.Error.WriteLine($"benchmark run failed: {title}");
    return failed.Count == 0 ? 0 : 1;
}
finally
{
    File.Delete(counters);
}
