using DmEra.Crash.Tests.Enumeration;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.PersistentData;

namespace DmEra.Crash.Tests.Oracles;

/// <summary>
/// Oracle (b), dm-era's promise: for every era E the client was told had begun, every tracking block
/// whose post-crash content differs from what it could have held when E began is in written-since(E).
/// Payloads are seeded random bytes, so "differs" is exact by provenance: a sector whose content came
/// from a request sent after E was acknowledged has changed since E. Content a request sent before E left
/// (even one still in flight when E began, the straddling case the kernel's RCU swap also allows, or an
/// unflushed write that a crash reverted) is what E may have begun with. A request that landed but was
/// never acknowledged still counts: its metadata commit had to precede it.
/// </summary>
public static class TrackingOracle
{
    /// <summary>Per tracking block, the newest era written-since must include it for (0 = none).</summary>
    public static uint[] RequiredEras(CrashImage image, ClientHistory client, long blockBytes, uint nrBlocks)
    {
        var required = new uint[nrBlocks];
        var sectorsPerBlock = blockBytes / CrashPointWalker.SectorSize;
        for (var s = 0L; s < image.OriginSize / CrashPointWalker.SectorSize; s++)
        {
            var p = image.Provenance[s];
            if (p < 0) continue;
            var block = s / sectorsPerBlock;
            if (block >= nrBlocks) continue;
            var era = client.Requests[p].Era;
            if (era > required[block]) required[block] = era;
        }
        return required;
    }

    /// <summary>The volume's own answer after recovery (era of each block: array, archived and current writesets).</summary>
    public static IEnumerable<string> CheckVolumeEras(uint[] required, uint[] eras)
    {
        for (var b = 0; b < required.Length; b++)
            if (required[b] > 0 && (b >= eras.Length || eras[b] < required[b]))
                yield return $"(b) block {b} changed in era {required[b]} but the recovered volume says it was last written in era {(b < eras.Length ? eras[b] : 0)}";
    }

    /// <summary>era_invalidate's answer from the recovered metadata image, for every acknowledged era.</summary>
    public static IEnumerable<string> CheckWrittenSince(uint[] required, IMetadataDevice metadata, uint lastAckedEra)
    {
        var reader = EraMetadataReader.Open(metadata);
        var violations = new List<string>();
        var maxRequired = required.Length == 0 ? 0 : required.Max();
        for (var era = 1u; era <= Math.Min(lastAckedEra, maxRequired); era++)
        {
            var listed = new bool[required.Length];
            WrittenSince.Find(reader, era, (begin, end) =>
            {
                for (var b = begin; b < end && b < listed.Length; b++) listed[b] = true;
            });
            for (var b = 0; b < required.Length; b++)
                if (required[b] >= era && !listed[b])
                    violations.Add($"(b) block {b} changed in era {required[b]} but written-since({era}) of the recovered metadata omits it");
        }
        return violations;
    }
}
