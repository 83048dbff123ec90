using DmEra.Crash.Tests.Enumeration;

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
            var request = client.Requests[p];
            if (client.CutOffSince(request.IssuedAt, block * blockBytes)) continue;
            var era = request.Era;
            if (era > required[block]) required[block] = era;
        }
        return required;
    }

    public static IEnumerable<string> Check(uint[] required, Recovery recovery)
    {
        if (recovery.Eras is not { } eras || recovery.WrittenSince is not { } sets) yield break;
        for (var b = 0; b < required.Length; b++)
        {
            if (required[b] == 0) continue;
            if (b >= eras.Length || eras[b] < required[b])
                yield return $"(b) block {b} changed in era {required[b]} but the recovered volume says it was last written in era {(b < eras.Length ? eras[b] : 0)}";
            for (var era = 1; era <= required[b] && era < sets.Length; era++)
                if (b >= sets[era].Length || !sets[era][b])
                {
                    yield return $"(b) block {b} changed in era {required[b]} but written-since({era}) of the recovered metadata omits it";
                    break;
                }
        }
    }
}
