using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using Perfolizer.Horology;

namespace DmEra.Micro.Bench;

/// <summary>
/// Jobs cut short on purpose: the whole suite has to finish in a few minutes on a shared 2-core machine, so
/// every case gets one process and few iterations. Error bars are wider than BenchmarkDotNet's defaults
/// would give; what these runs are for is orders of magnitude and allocations, which noise does not move.
/// </summary>
public static class MicroJobs
{
    /// <summary>Nanosecond-to-millisecond operations: the pilot picks how many invocations fill ~100 ms.</summary>
    public static readonly Job Short = Job.Default
        .WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(7)
        .WithIterationTime(TimeInterval.FromMilliseconds(100))
        .WithId("short");

    /// <summary>
    /// Operations that need fresh state each time ([IterationSetup]): one invocation per iteration, no pilot
    /// and no overhead run (BenchmarkDotNet's Monitoring strategy).
    /// </summary>
    public static readonly Job OneShot = Job.Default
        .WithStrategy(RunStrategy.Monitoring)
        .WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(7)
        .WithInvocationCount(1).WithUnrollFactor(1)
        .WithId("one-shot");
}

/// <summary>
/// One job, plus the median and the minimum: on a machine shared with other benchmarks the mean carries
/// the neighbours' bursts, the minimum is the run they disturbed least.
/// </summary>
public abstract class MicroConfig : ManualConfig
{
    protected MicroConfig(Job job)
    {
        AddJob(job);
        AddColumn(StatisticColumn.Median, StatisticColumn.Min);
    }
}

public sealed class ShortConfig() : MicroConfig(MicroJobs.Short);

public sealed class OneShotConfig() : MicroConfig(MicroJobs.OneShot);
