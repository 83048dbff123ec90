using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Era;

/// <summary>
/// How much metadata a volume needs, in the spirit of thin_metadata_size: the era array and the
/// writesets twice over (a held snapshot keeps the old copies while the live ones are rewritten), plus
/// a margin for the copies a commit writes before it frees the old ones, and the space map itself.
/// A device this size runs a volume through full writes, checkpoints, digests and a held snapshot
/// without running out (MetadataSizingTests proves it at exactly this size).
/// </summary>
public static class MetadataSizing
{
    /// <summary>Superblock, snapshot clone, writeset tree nodes, space map index and ref-count tree, slack.</summary>
    private const long FixedBlocks = 64;

    /// <summary>
    /// The bound on blocks one digest transaction rewrites before it commits (the engine's
    /// digest-commit-dirty-blocks default, 1024, plus the btree nodes above them): the margin a commit needs.
    /// </summary>
    public const long DefaultCommitDirtyBlocks = 1024 + 16;

    /// <summary>The smallest metadata device, in 4 KiB blocks, for <paramref name="nrBlocks"/> tracking blocks.</summary>
    public static long MinimumBlocks(long nrBlocks, long commitDirtyBlocks = DefaultCommitDirtyBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(nrBlocks);
        var eraArray = ArrayBlocks(nrBlocks, ArrayBlockView.CalcMaxEntries(4));
        var writeset = ArrayBlocks(PersistentBitset.WordCount((uint)Math.Min(nrBlocks, uint.MaxValue)), ArrayBlockView.CalcMaxEntries(8));
        // Live and held copies of the era array and of two writesets (the current one and one archived
        // waiting for the digest), the transient copies of one commit, and the fixed blocks.
        var trees = 2 * (eraArray + 2 * writeset) + Math.Min(eraArray, commitDirtyBlocks) + FixedBlocks;
        var bitmaps = (trees + SpaceMapBitmap.EntriesPerBlock - 1) / SpaceMapBitmap.EntriesPerBlock;
        return trees + 2 * bitmaps;   // bitmaps are shadowed at each commit: old and new
    }

    public static long MinimumBytes(long nrBlocks) => MinimumBlocks(nrBlocks) * MetadataBlock.Size;

    /// <summary>Tracking blocks of an origin: a partial last block counts (the kernel's dm_sector_div_up).</summary>
    public static long TrackingBlocks(long originBytes, uint blockSizeSectors)
    {
        var blockBytes = (long)blockSizeSectors * 512;
        return (originBytes + blockBytes - 1) / blockBytes;
    }

    /// <summary>A dm-array of <paramref name="entries"/>: its array blocks and the btree nodes over them, each level at least a third full.</summary>
    private static long ArrayBlocks(long entries, int perBlock)
    {
        var blocks = (entries + perBlock - 1) / perBlock;
        var total = blocks;
        var minFill = BtreeNodeView.CalcMaxEntries(8) / 3;
        var level = blocks;
        do
        {
            level = Math.Max(1, (level + minFill - 1) / minFill);
            total += level;
        } while (level > 1);
        return total;
    }
}
