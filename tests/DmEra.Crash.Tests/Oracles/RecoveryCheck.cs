using DmEra.Storage.Devices;
using Akka.Actor;
using DmEra.Crash.Tests.Devices;
using DmEra.Engine;
using DmEra.Metadata.Era;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.PersistentData;

namespace DmEra.Crash.Tests.Oracles;

/// <summary>
/// What recovering one crashed metadata image gave: oracle (c)'s findings, the recovered volume's era of
/// every block, era_invalidate's written-since(E) over the recovered image for E = 1..the last era the
/// client knew, and the recovered image itself. It depends on the metadata image and the origin size
/// only, so crash states that differ only in what reached the origin share one recovery.
/// </summary>
public sealed record Recovery(List<string> Violations, uint[]? Eras, bool[][]? WrittenSince, byte[]?[]? Recovered, int LeakWarnings)
{
    /// <summary>The metadata device was too full to recover into, or to digest afterwards: an explicit refusal, not lost tracking.</summary>
    public bool RefusedFull { get; init; }
}

/// <summary>
/// Recovers a crashed metadata image exactly as the daemon starts a volume (<see cref="EraVolume.StartAsync"/>:
/// format if blank, resize, archive a crash-left writeset, new era), then reads back what oracles (b) and
/// (c) need: the checker on the crash image and on the recovered one, the volume's block eras, and
/// era_invalidate's written-since sets of the recovered image.
/// </summary>
public static class RecoveryCheck
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopLimit = TimeSpan.FromSeconds(10);

    public static async Task<Recovery> RunAsync(ActorSystem system, ImageMetadataDevice crashed, byte[] origin, long originSize,
        uint blockSizeSectors, uint lastAckedEra, bool checkAfterStop, bool quiesceDigest = false, long logBlocks = 0)
    {
        var violations = new List<string>();
        var leaks = 0;
        var (crashedMetadata, crashedLog) = HarnessLayout.Split(crashed, logBlocks);
        if (!EraMetadata.IsZeroed(crashedMetadata))
            leaks += Check(crashedMetadata, "the crash image", violations);

        // Recovery must not write the origin; it gets a copy so the caller's image stays the reference.
        var originDevice = MemoryDevice.Holding(origin.AsSpan(0, checked((int)originSize)));
        EraVolume volume;
        try
        {
            volume = await EraVolume.StartAsync(system, "recovered", crashedMetadata, originDevice, blockSizeSectors, crashedLog).WaitAsync(Limit);
        }
        catch (Exception e) when (IsFull(e))
        {
            return new Recovery(violations, null, null, null, leaks) { RefusedFull = true };
        }
        catch (Exception e) when (e is not TimeoutException)
        {
            violations.Add($"(c) activation of the crash image failed: {e.GetType().Name}: {e.Message}");
            return new Recovery(violations, null, null, null, leaks);
        }
        var refusedFull = false;
        byte[]?[]? recovered = null;
        uint[]? eras = null;
        bool[][]? writtenSince = null;
        try
        {
            // What era_check and era_invalidate are given: the metadata file alone, which recovery made whole.
            recovered = HarnessLayout.MetadataPart(crashed.Snapshot(), logBlocks);
            var recoveredDevice = new ImageMetadataDevice(recovered);
            leaks += Check(recoveredDevice, "the recovered image", violations);
            writtenSince = WrittenSinceSets(recoveredDevice, lastAckedEra, volume.NrBlocks);
            try
            {
                eras = await volume.GetBlockErasAsync(0, (int)volume.NrBlocks).WaitAsync(Limit);
            }
            catch (Exception e) when (IsFull(e))
            {
                // The background digest ran out of metadata space and failed the volume (writes now get EIO):
                // the durable image above still answers written-since.
                refusedFull = true;
                eras = Enumerable.Repeat(uint.MaxValue, (int)volume.NrBlocks).ToArray();
            }
        }
        catch (Exception e) when (e is not TimeoutException)
        {
            violations.Add($"(b) the recovered metadata cannot answer written-since: {e.GetType().Name}: {e.Message}");
        }
        if (quiesceDigest) await DigestIdleAsync(volume);
        try
        {
            await volume.StopAsync().WaitAsync(StopLimit);
        }
        catch (TimeoutException)
        {
            violations.Add($"(c) the recovered volume did not stop within {StopLimit.TotalSeconds:0} s");
        }
        catch (Exception e) when (IsFull(e))
        {
            refusedFull = true;
        }
        catch (Exception e) when (e is not TimeoutException)
        {
            violations.Add($"(c) the recovered volume failed its clean stop: {e.GetType().Name}: {e.Message}");
        }
        if (checkAfterStop) leaks += Check(new ImageMetadataDevice(HarnessLayout.MetadataPart(crashed.Snapshot(), logBlocks)), "the image after a clean stop", violations);
        return new Recovery(violations, eras, writtenSince, recovered, leaks) { RefusedFull = refusedFull };
    }

    /// <summary>
    /// Waits until the background digest has finished or failed (before engine commit b632e8d, a step failing
    /// while a stop waited for it never answered the stop; see MetadataNearlyFullSpecs).
    /// </summary>
    private static async Task DigestIdleAsync(EraVolume volume)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (!await volume.HasDigestWorkAsync().WaitAsync(Limit)) return;
            }
            catch (Exception e) when (e is not TimeoutException)
            {
                return;   // the volume failed: the era manager has stopped digesting
            }
            await Task.Delay(1);
        }
    }

    private static bool IsFull(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is DmEra.Metadata.MetadataSpaceExhaustedException) return true;
        return false;
    }

    /// <summary>Index E holds written-since(E) (index 0 unused).</summary>
    private static bool[][] WrittenSinceSets(MetadataDevice metadata, uint lastAckedEra, uint nrBlocks)
    {
        var reader = EraMetadataReader.Open(metadata);
        var sets = new bool[lastAckedEra + 1][];
        sets[0] = [];
        for (var era = 1u; era <= lastAckedEra; era++)
        {
            var listed = new bool[nrBlocks];
            WrittenSince.Find(reader, era, (begin, end) =>
            {
                for (var b = begin; b < end && b < listed.Length; b++) listed[b] = true;
            });
            sets[era] = listed;
        }
        return sets;
    }

    /// <summary>Oracle (c): errors are violations; leak warnings are counted and reported.</summary>
    private static int Check(MetadataDevice device, string what, List<string> violations)
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
