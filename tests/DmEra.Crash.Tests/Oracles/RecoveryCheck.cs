using Akka.Actor;
using DmEra.Crash.Tests.Devices;
using DmEra.Crash.Tests.Enumeration;
using DmEra.Engine;
using DmEra.Metadata.Era;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.PersistentData;

namespace DmEra.Crash.Tests.Oracles;

/// <summary>What recovering one crash state found.</summary>
public sealed record RecoveryOutcome(List<string> Violations, byte[]?[]? Recovered, int LeakWarnings);

/// <summary>
/// Recovers one crash state exactly as the daemon starts a volume (<see cref="EraVolume.StartAsync"/>:
/// format if blank, resize, archive a crash-left writeset, new era) and applies the oracles: (c) the
/// checker on the crash image and on the recovered one, (b) the recovered volume's eras and era_invalidate's
/// written-since over the recovered image. Oracle (a) needs no recovery and is checked by the caller.
/// </summary>
public static class RecoveryCheck
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    public static async Task<RecoveryOutcome> RunAsync(ActorSystem system, ImageMetadataDevice crashed, CrashImage image,
        ClientHistory client, uint blockSizeSectors, bool checkAfterStop)
    {
        var violations = new List<string>();
        var leaks = 0;
        if (!EraMetadata.IsZeroed(crashed))
            leaks += Check(crashed, "the crash image", violations);

        // The origin image is copied: recovery must not write it, and the caller's image stays the reference.
        var origin = new ImageOriginDevice((byte[])image.Origin.Clone(), image.OriginSize);
        var device = crashed;
        EraVolume volume;
        try
        {
            volume = await EraVolume.StartAsync(system, "recovered", device, origin, blockSizeSectors).WaitAsync(Limit);
        }
        catch (Exception e)
        {
            violations.Add($"(c) activation of the crash image failed: {e.GetType().Name}: {e.Message}");
            return new RecoveryOutcome(violations, null, leaks);
        }
        byte[]?[] recovered;
        try
        {
            recovered = device.Snapshot();
            var required = TrackingOracle.RequiredEras(image, client, blockSizeSectors * 512L, volume.NrBlocks);
            var eras = await volume.GetBlockErasAsync(0, (int)volume.NrBlocks).WaitAsync(Limit);
            violations.AddRange(TrackingOracle.CheckVolumeEras(required, eras));
            var recoveredDevice = new ImageMetadataDevice(recovered);
            leaks += Check(recoveredDevice, "the recovered image", violations);
            violations.AddRange(TrackingOracle.CheckWrittenSince(required, recoveredDevice, client.LastAckedEra));
        }
        finally
        {
            await volume.StopAsync().WaitAsync(Limit);
        }
        if (checkAfterStop) leaks += Check(new ImageMetadataDevice(device.Snapshot()), "the image after a clean stop", violations);
        return new RecoveryOutcome(violations, recovered, leaks);
    }

    /// <summary>Oracle (c): errors are violations; leak warnings are counted (a crash must not leak either, see the report).</summary>
    private static int Check(IMetadataDevice device, string what, List<string> violations)
    {
        try
        {
            var report = MetadataChecker.Check(device);
            foreach (var e in report.Errors.Take(5)) violations.Add($"(c) {what}: {e}");
            return report.Warnings.Count;
        }
        catch (Exception e)
        {
            violations.Add($"(c) {what} cannot be read: {e.GetType().Name}: {e.Message}");
            return 0;
        }
    }
}
