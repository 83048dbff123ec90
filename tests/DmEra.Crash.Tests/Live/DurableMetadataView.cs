using DmEra.Metadata.Era;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.IntentLog;
using DmEra.Metadata.PersistentData;

namespace DmEra.Crash.Tests.Live;

/// <summary>
/// What one committed superblock makes durable, computed from a metadata image: the blocks it can reach
/// (which no later write may touch until a newer superblock is durable: persistent-data's shadowing rule),
/// and for every tracking block the newest era that marks it (current writeset, archived writesets, era
/// array). A view of an unformatted device reaches nothing and marks nothing.
/// </summary>
public sealed class DurableMetadataView
{
    private DurableMetadataView(bool[] reachable, uint[] eraOf, uint currentEra, bool formatted)
    {
        Reachable = reachable;
        EraOf = eraOf;
        CurrentEra = currentEra;
        IsFormatted = formatted;
    }

    public bool[] Reachable { get; }
    /// <summary>Per tracking block, the newest era marking it; 0 = none (or era 0).</summary>
    public uint[] EraOf { get; }
    public uint CurrentEra { get; }
    public bool IsFormatted { get; }

    public static DurableMetadataView Unformatted(long deviceBlocks) => new(new bool[deviceBlocks], [], 0, false);

    /// <summary>
    /// The durable metadata, and the marks of the current era a durable intent log adds to it (what a
    /// restart would replay: records of the metadata's tracking history and current era).
    /// </summary>
    public static DurableMetadataView Of(MetadataDevice device, MetadataDevice? log = null)
    {
        if (EraMetadata.IsZeroed(device)) return Unformatted(device.BlockCount);
        var sb = EraSuperblock.Read(device);
        var eras = ErasOf(device, sb);
        if (log is not null && !sb.CurrentWriteset.IsNone)
        {
            var scan = IntentLogScan.Read(log);
            if (scan.Header is { } h && h.TrackingId.AsSpan().SequenceEqual(sb.Uuid))
                foreach (var r in scan.Records.Where(r => r.Era == sb.CurrentEra))
                    foreach (var b in r.Blocks)
                        if (b < eras.Length && b < sb.CurrentWriteset.NrBits) eras[b] = Math.Max(eras[b], r.Era);
        }
        return new DurableMetadataView(ReachableFrom(device, sb), eras, sb.CurrentEra, true);
    }

    /// <summary>The same walk as the checker's: every block a reader of this superblock may read.</summary>
    private static bool[] ReachableFrom(MetadataDevice device, EraSuperblock sb)
    {
        var walker = new ReferenceWalker(new BlockManager(device, 64), device.BlockCount);
        walker.Ref(0);
        walker.CountSpaceMap(sb.SpaceMapRoot);
        WalkWritesets(walker, sb.WritesetTreeRoot);
        walker.WalkArray(sb.EraArrayRoot, 4, sb.NrBlocks, "era array", null);
        if (!sb.CurrentWriteset.IsNone)
            walker.WalkArray(sb.CurrentWriteset.Root, 8, PersistentBitset.WordCount(sb.CurrentWriteset.NrBits), "current writeset", null);
        if (sb.MetadataSnap != 0 && walker.Ref(sb.MetadataSnap))
        {
            var clone = EraSuperblock.Read(device, sb.MetadataSnap);
            WalkWritesets(walker, clone.WritesetTreeRoot);
            walker.WalkArray(clone.EraArrayRoot, 4, clone.NrBlocks, "snapshot era array", null);
        }
        var reachable = new bool[device.BlockCount];
        for (var b = 0; b < reachable.Length; b++) reachable[b] = walker.References(b) > 0;
        return reachable;
    }

    private static void WalkWritesets(ReferenceWalker walker, long root) =>
        walker.WalkBtree(root, WritesetRoot.Size, "writeset tree", null, (_, value) =>
        {
            var ws = WritesetRoot.Unpack(value);
            walker.WalkArray(ws.Root, 8, PersistentBitset.WordCount(ws.NrBits), "writeset", null);
        });

    private static uint[] ErasOf(MetadataDevice device, EraSuperblock sb)
    {
        var reader = EraMetadataReader.Open(device);
        var writesets = reader.Writesets();
        if (!sb.CurrentWriteset.IsNone) writesets.Add(reader.OpenWriteset(sb.CurrentEra, sb.CurrentWriteset));
        var eras = new uint[sb.NrBlocks];
        reader.VisitEras(writesets, 0, sb.NrBlocks, (first, run) => run.CopyTo(eras.AsSpan((int)first)));
        return eras;
    }
}
