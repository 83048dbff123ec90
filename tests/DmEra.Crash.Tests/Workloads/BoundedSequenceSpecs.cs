using DmEra.Crash.Tests.Enumeration;
using DmEra.Crash.Tests.Oracles;
using DmEra.Crash.Tests.Recording;
using Xunit.Abstractions;

namespace DmEra.Crash.Tests.Workloads;

/// <summary>
/// Bounded exhaustive workloads: every sequence of length 1 and 2 over the whole alphabet, and length 3
/// (a seeded sample by default, all 1,728 in long mode), each crashed at every point of its trace. Split
/// over three classes only so that xunit runs them in parallel.
/// </summary>
public abstract class BoundedSequenceSpec(ITestOutputHelper output) : CrashSpec(output)
{
    private static readonly StateSampling Small = new(CapPerPoint: 6, ExhaustiveUpTo: 2, RandomSamples: 2);
    private static readonly StateSampling Long = new(CapPerPoint: 48, ExhaustiveUpTo: 6, RandomSamples: 8);

    protected async Task RunAll(List<int[]> sequences, int seed)
    {
        var violations = new List<string>();
        long states = 0, points = 0;
        foreach (var seq in sequences)
        {
            if (Abandoned) return;
            var name = SequenceAlphabet.Name(seq);
            var recorded = await RecordAsync(name, new RigOptions(OriginBytes: SequenceAlphabet.OriginBytes,
                OriginCapacity: SequenceAlphabet.Capacity, Seed: seed + seq.Sum()), SequenceAlphabet.Workload(seq));
            var report = await CrashChecker.RunAsync(CheckSystem, recorded, new CheckOptions
            {
                Enumeration = LongMode ? Long : Small with { Seed = seed },
                EraCheckEvery = LongMode ? 200 : 0,
            });
            if (Abandoned) return;   // checked against a system that went away: not a finding
            CrashFigures.Add(report);
            states += report.States;
            points += report.CrashPoints;
            violations.AddRange(report.Violations.Take(3));
            if (report.Violations.Count > 0) violations.Add($"trace kept for replay: {TraceDump.Write(recorded)}");
            if (violations.Count > 20) break;
        }
        Output.WriteLine($"{sequences.Count} sequences, {points} crash points, {states} states, {violations.Count} violations");
        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }

    /// <summary>Sequences of length 1 and 2 whose first op is in [from, to).</summary>
    protected static List<int[]> Short(int from, int to) =>
        SequenceAlphabet.Sequences(1).Concat(SequenceAlphabet.Sequences(2)).Where(s => s[0] >= from && s[0] < to).ToList();
}

public sealed class BoundedSequenceSpecs(ITestOutputHelper output) : BoundedSequenceSpec(output)
{
    [Fact]
    public async Task Every_sequence_of_up_to_two_requests_starting_with_a_data_request_keeps_the_promise_at_every_crash_point() =>
        await Bounded(RunAll(Short(0, 7), seed: 7000));
}

public sealed class BoundedAdminSequenceSpecs(ITestOutputHelper output) : BoundedSequenceSpec(output)
{
    [Fact]
    public async Task Every_sequence_of_up_to_two_requests_starting_with_an_admin_request_keeps_the_promise_at_every_crash_point() =>
        await Bounded(RunAll(Short(7, SequenceAlphabet.All.Length), seed: 7000));
}

public sealed class BoundedTripleSequenceSpecs(ITestOutputHelper output) : BoundedSequenceSpec(output)
{
    [Fact]
    public async Task Sequences_of_three_requests_keep_the_promise_at_every_crash_point()
    {
        var all = SequenceAlphabet.Sequences(3).ToList();
        var sample = LongMode ? all : all.OrderBy(s => CrashState.Mix(3, s[0] * 144 + s[1] * 12 + s[2], 0)).Take(24).ToList();
        await Bounded(RunAll(sample, seed: 8000));
    }
}
