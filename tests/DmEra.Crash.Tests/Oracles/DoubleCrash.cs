using DmEra.Storage.Devices;
using Akka.Actor;
using DmEra.Crash.Tests.Devices;
using DmEra.Crash.Tests.Enumeration;
using DmEra.Crash.Tests.Live;
using DmEra.Crash.Tests.Recording;
using DmEra.Crash.Tests.Trace;
using DmEra.Engine;

namespace DmEra.Crash.Tests.Oracles;

/// <summary>
/// A crash during recovery (SQLite's compound failures): the recovery of one crash state is itself
/// recorded on a recording device, every crash point of that recovery is enumerated, and each resulting
/// image must recover again and pass oracles (b) and (c) against the first crash's origin and client history.
/// </summary>
public static class DoubleCrash
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    public static async Task<(long States, List<string> Violations)> RunAsync(ActorSystem system, byte[]?[] crashedMetadata,
        CrashImage image, ClientHistory client, uint blockSizeSectors, long blockBytes, int capPerPoint, int seed, long logBlocks = 0)
    {
        var trace = new IoTrace();
        // W1 holds during recovery too: recovery's writes must not touch what the crash image's superblock reaches.
        var live = new LiveInvariants(crashedMetadata.LongLength - logBlocks) { BlockBytes = blockBytes };
        var (durableMetadata, durableLog) = HarnessLayout.Split(new ImageMetadataDevice(crashedMetadata), logBlocks);
        if (!DmEra.Metadata.Era.EraMetadata.IsZeroed(durableMetadata))
            live.OnDurableSuperblock(DurableMetadataView.Of(durableMetadata, durableLog));
        var device = new RecordingMetadataDevice(trace, crashedMetadata.LongLength, live, initial: crashedMetadata, logBlocks: logBlocks);
        var (metadataWindow, logWindow) = HarnessLayout.Split(device, logBlocks);
        var origin = MemoryDevice.Holding(image.Origin.AsSpan(0, checked((int)image.OriginSize)));
        var violations = new List<string>();
        try
        {
            var volume = await EraVolume.StartAsync(system, "recovering", metadataWindow, origin, blockSizeSectors, logWindow).WaitAsync(Limit);
            trace.Freeze();   // the crash: nothing after activation returned counts
            await volume.StopAsync().WaitAsync(Limit);
        }
        catch (Exception e)
        {
            violations.Add($"(c) first recovery failed: {e.Message}");
            return (0, violations);
        }
        violations.AddRange(live.Violations.Select(v => $"live during recovery: {v}"));
        var recorded = new RecordedWorkload("recovery", seed, trace.Events, image.Origin, image.OriginSize, crashedMetadata,
            blockSizeSectors, [], 0) { LogBlocks = logBlocks };
        long states = 0;
        foreach (var point in CrashPointWalker.Walk(recorded))
        {
            foreach (var state in CrashStateEnumerator.For(point, new StateSampling(capPerPoint, 3, 2, seed)))
            {
                states++;
                var metadata = CrashImageBuilder.Build(point, state).Metadata;
                var recovery = await RecoveryCheck.RunAsync(system, metadata, image.Origin, image.OriginSize, blockSizeSectors,
                    client.LastAckedEra, checkAfterStop: false, logBlocks: logBlocks);
                var required = TrackingOracle.RequiredEras(image, client, blockBytes, (uint)(recovery.Eras?.Length ?? 0));
                foreach (var v in recovery.Violations.Concat(TrackingOracle.Check(required, recovery)))
                    violations.Add($"second crash at recovery point {point.Index} (before {point.Before}) state {state}: {v}");
            }
        }
        return (states, violations);
    }
}
