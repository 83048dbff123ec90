using Akka.Actor;
using DmEra.Crash.Tests.Enumeration;
using DmEra.Crash.Tests.Recording;

namespace DmEra.Crash.Tests.Oracles;

/// <summary>
/// Enumerates the crash states of one recorded workload offline and checks each: (a) on the crash image,
/// then recovery and (b), (c) (see <see cref="RecoveryCheck"/>). Violations carry the workload's seed, the
/// crash point and the state (family, fates, state seed), which replay it from the same trace.
/// </summary>
public static class CrashChecker
{
    public static async Task<CrashReport> RunAsync(ActorSystem system, RecordedWorkload w, CheckOptions options)
    {
        var report = new CrashReport { Name = w.Name, Seed = w.Seed, TraceEvents = w.Events.Count, LiveChecks = w.LiveChecks };
        foreach (var v in w.LiveViolations) report.Violation($"[{w.Name} seed={w.Seed}] live {v}");
        foreach (var point in CrashPointWalker.Walk(w))
        {
            report.CrashPoints++;
            var durability = new DurabilityOracle(point);
            var recoveries = new Dictionary<string, Recovery>();
            foreach (var state in CrashStateEnumerator.For(point, options.Enumeration))
            {
                var n = ++report.States;
                var image = CrashImageBuilder.Build(point, state);
                var violations = durability.Check(image).Take(5).ToList();
                var key = image.Metadata.OverlayKey();
                var fresh = !recoveries.TryGetValue(key, out var recovery);
                if (fresh)
                {
                    recovery = await RecoveryCheck.RunAsync(system, image.Metadata, image.Origin, image.OriginSize, w.BlockSizeSectors,
                        point.Client.LastAckedEra, options.CheckAfterStopEvery > 0 && report.Recoveries % options.CheckAfterStopEvery == 0,
                        options.QuiesceDigestBeforeStop, w.LogBlocks);
                    recoveries[key] = recovery;
                    report.Recoveries++;
                    report.LeakWarnings += recovery.LeakWarnings;
                    if (recovery.RefusedFull) report.RefusedFull++;
                    violations.AddRange(recovery.Violations);
                }
                var required = TrackingOracle.RequiredEras(image, point.Client, w.BlockBytes, (uint)(recovery!.Eras?.Length ?? 0));
                violations.AddRange(TrackingOracle.Check(required, recovery).Take(5));
                if (fresh && options.EraCheckEvery > 0 && report.Recoveries % options.EraCheckEvery == 0 && recovery.Recovered is { } recovered && EraCheckTool.IsInstalled)
                {
                    report.EraCheckRuns++;
                    if (EraCheckTool.Check(recovered) is { } failure) violations.Add($"(c) real era_check on the recovered image: {failure}");
                    // One in 25 samples also goes through the `dmera check` CLI (same checker, run as a user runs it).
                    if (report.EraCheckRuns % 25 == 1)
                    {
                        report.DmeraCheckRuns++;
                        if (EraCheckTool.CheckWithDmera(recovered) is { } dmeraFailure) violations.Add($"(c) dmera check on the recovered image: {dmeraFailure}");
                    }
                }
                if (options.DoubleCrashEvery > 0 && n % options.DoubleCrashEvery == 0)
                {
                    var crashed = CrashImageBuilder.Build(point, state).Metadata.Snapshot();
                    var (states, more) = await DoubleCrash.RunAsync(system, crashed, image, point.Client, w.BlockSizeSectors, w.BlockBytes,
                        options.DoubleCrashCap, (int)CrashState.Mix(w.Seed, point.Index, (int)n), w.LogBlocks);
                    report.DoubleCrashStates += states;
                    violations.AddRange(more);
                }
                foreach (var v in violations.Take(5))
                    report.Violation($"[{w.Name} seed={w.Seed}] crash point {point.Index} (before {point.Before}) state {state}: {v}");
                if (report.Violations.Count >= options.MaxViolations) goto done;
            }
        }
    done:
        report.Stop();
        return report;
    }
}
