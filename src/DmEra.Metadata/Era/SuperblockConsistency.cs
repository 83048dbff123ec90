using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Era;

/// <summary>
/// What opening metadata for use relies on, checked against the superblock before anything acts on it:
/// the tree roots are distinct allocated btree nodes of the right value size, and the era array (and the
/// current writeset's bitset) hold exactly as many entries as the superblock says. A superblock whose
/// block count was altered (with its checksum recomputed) would otherwise be taken for a resize and
/// drop eras. Costs a few block reads: one path down each tree's right edge, not a walk of it.
/// </summary>
internal static class SuperblockConsistency
{
    public static void Check(TransactionManager tm, EraSuperblock sb)
    {
        if (sb.NrBlocks > EraMetadata.MaxNrBlocks)
            throw Damaged($"nr_blocks {sb.NrBlocks} exceeds the maximum {EraMetadata.MaxNrBlocks} (2^31 - 1)");
        if (sb.WritesetTreeRoot == sb.EraArrayRoot
            || (!sb.CurrentWriteset.IsNone && (sb.WritesetTreeRoot == sb.CurrentWriteset.Root || sb.EraArrayRoot == sb.CurrentWriteset.Root)))
            throw Damaged($"two of its trees share a root (writeset tree {sb.WritesetTreeRoot}, era array {sb.EraArrayRoot}, current writeset {sb.CurrentWriteset.Root})");
        RootNode(tm, sb.WritesetTreeRoot, WritesetRoot.Size, "writeset tree");
        var entries = ArrayEntries(tm, sb.EraArrayRoot, 4, "era array");
        if (entries != sb.NrBlocks)
            throw Damaged($"nr_blocks {sb.NrBlocks} disagrees with the era array (root block {sb.EraArrayRoot}), which holds {entries} entries");
        if (sb.CurrentWriteset.IsNone) return;
        var words = ArrayEntries(tm, sb.CurrentWriteset.Root, 8, "current writeset");
        if (words != PersistentBitset.WordCount(sb.CurrentWriteset.NrBits))
            throw Damaged($"the current writeset has {sb.CurrentWriteset.NrBits} bits but its bitset (root block {sb.CurrentWriteset.Root}) holds {words} words");
    }

    private static CorruptBlockException Damaged(string problem) => new(0, "superblock", problem);

    /// <summary>The number of entries of a dm-array: the last key of its btree's right edge and that array block's count.</summary>
    private static long ArrayEntries(TransactionManager tm, long root, int valueSize, string what)
    {
        var location = root;
        var node = RootNode(tm, root, 8, what);
        while (!node.IsLeaf)
        {
            location = node.Child(node.NrEntries - 1);
            node = Node(tm, location, what);
        }
        if (node.ValueSize != 8)
            throw new CorruptBlockException(location, "btree node", $"value size {node.ValueSize}, expected 8 ({what})");
        if (node.NrEntries == 0) return 0;
        var lastKey = node.Key(node.NrEntries - 1);
        var arrayBlock = BlockReference.Location(node.Value(node.NrEntries - 1));
        InRange(tm, arrayBlock, what);
        var ab = new ArrayBlockView(tm.Read(arrayBlock, BlockKind.ArrayBlock));
        var per = ArrayBlockView.CalcMaxEntries(valueSize);
        if (ab.ValueSize != valueSize || ab.MaxEntries != per)
            throw new CorruptBlockException(arrayBlock, "array block", $"value size {ab.ValueSize} and max_entries {ab.MaxEntries}, expected {valueSize} and {per} ({what})");
        return (long)lastKey * per + ab.NrEntries;
    }

    private static BtreeNodeView RootNode(TransactionManager tm, long root, int leafValueSize, string what)
    {
        var node = Node(tm, root, what);
        var expected = node.IsLeaf ? leafValueSize : 8;
        if (node.ValueSize != expected)
            throw new CorruptBlockException(root, "btree node", $"value size {node.ValueSize}, expected {expected} ({what} root)");
        return node;
    }

    private static BtreeNodeView Node(TransactionManager tm, long location, string what)
    {
        InRange(tm, location, what);
        var node = new BtreeNodeView(tm.Read(location, BlockKind.BtreeNode));
        if (!node.IsLeaf && node.NrEntries == 0)
            throw new CorruptBlockException(location, "btree node", $"internal node with no entries ({what})");
        return node;
    }

    private static void InRange(TransactionManager tm, long location, string what)
    {
        if (location <= 0 || location >= tm.SpaceMap.NrBlocks || tm.SpaceMap.GetCount(location) == 0)
            throw Damaged($"the {what} points at block {(ulong)location}, which is not an allocated metadata block");
    }
}
