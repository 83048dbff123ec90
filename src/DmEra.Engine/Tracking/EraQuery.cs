using DmEra.Metadata.Era;

namespace DmEra.Engine.Tracking;

/// <summary>
/// "In which era was block b last written?" over the live volume: the on-disk answer
/// (<see cref="EraMetadata.VisitEras"/>, the same fold as <c>dump --logical</c> and <c>invalidate</c>)
/// plus the current era for blocks whose durable in-core bit is set; or the same as of a backup view's
/// held snapshot. Runs on the metadata writer's thread only.
/// </summary>
internal static class EraQuery
{
    public static uint[] ErasOf(EraMetadata md, InCoreWriteset current, uint currentEra, uint first, int count)
    {
        var eras = new uint[count];
        if (count == 0) return eras;
        var end = first + (uint)count;   // exclusive; the caller checked end <= NrBlocks
        md.VisitEras(first, end, (from, run) => run.CopyTo(eras.AsSpan((int)(from - first))));
        for (var b = first; b < end; b++)
            if (current.IsMarked(b)) eras[b - first] = currentEra;
        return eras;
    }

    /// <summary>The eras of blocks as of the held metadata snapshot at <paramref name="heldRoot"/>.</summary>
    public static uint[] ErasOfSnapshot(EraMetadata md, long heldRoot, uint first, int count)
    {
        var eras = new uint[count];
        if (count == 0) return eras;
        md.VisitSnapshotEras(heldRoot, first, first + (uint)count, (from, run) => run.CopyTo(eras.AsSpan((int)(from - first))));
        return eras;
    }
}
