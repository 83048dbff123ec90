using DmEra.Crash.Tests.Devices;
using DmEra.Metadata.PersistentData;

namespace DmEra.Crash.Tests.Enumeration;

/// <summary>The devices as one crash state leaves them, and where each origin sector's content came from.</summary>
public sealed record CrashImage(ImageMetadataDevice Metadata, byte[] Origin, long[] Provenance, long OriginSize);

/// <summary>
/// Builds a crash state's images: the metadata as a copy-on-write overlay over the durable image (cost =
/// the pending blocks), the origin as a copy of the durable image with the chosen pending operations laid
/// over it, sector by sector, in submit order or the state's shuffled order.
/// </summary>
public static class CrashImageBuilder
{
    public static CrashImage Build(CrashPoint point, CrashState state)
    {
        var metadata = new ImageMetadataDevice(point.MetadataDurable);
        var origin = (byte[])point.OriginDurable.Clone();
        var provenance = (long[])point.OriginProvenance.Clone();
        var order = CrashStateEnumerator.SubmitOrder(point);
        if (state.Shuffled) new Random(state.Seed).Shuffle(order);
        var m = point.MetadataPending.Count;
        foreach (var atom in order)
        {
            if (state.Fates[atom] == AtomFate.Drop) continue;
            if (atom < m)
            {
                var write = point.MetadataPending[atom];
                if (write.Offset == 0 || state.Fates[atom] == AtomFate.Apply)
                    metadata.Write(write.Offset, write.Data);   // the superblock is all-or-nothing
                else
                    metadata.WriteSectors(write.Offset, write.Data, s => state.KeepsSector(atom, s, MetadataBlock.SizeSectors));
            }
            else
            {
                var op = point.OriginPending[atom - m].Submit;
                var sectors = (int)((op.Offset + op.Length - 1) / 512 - op.Offset / 512 + 1);
                CrashPointWalker.Apply(origin, provenance, op, s => state.KeepsSector(atom, s, sectors));
            }
        }
        return new CrashImage(metadata, origin, provenance, point.OriginSize);
    }
}
