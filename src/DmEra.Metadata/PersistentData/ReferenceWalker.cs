namespace DmEra.Metadata.PersistentData;

public delegate void ArrayValuesVisitor(long firstIndex, ReadOnlySpan<byte> values);

/// <summary>
/// Walks persistent-data structures from their roots, validating them as the kernel and the tools do,
/// and counts every reference it meets. Comparing those counts with the space map's proves the space
/// map right: the check era_check never made. Each block is walked once however often it is shared.
/// </summary>
public sealed class ReferenceWalker
{
    private readonly BlockManager _blocks;
    private readonly uint[] _refs;
    private readonly bool[] _seen;
    private readonly IProgress<long>? _progress;
    private long _visited;

    public ReferenceWalker(BlockManager blocks, long deviceBlocks, IProgress<long>? progress = null)
    {
        _blocks = blocks;
        _refs = new uint[deviceBlocks];
        _seen = new bool[deviceBlocks];
        _progress = progress;
    }

    public uint References(long block) => _refs[block];

    /// <summary>Counts a reference; true the first time the block is seen (walk into it then).</summary>
    public bool Ref(long block)
    {
        if (block < 0 || block >= _refs.LongLength)
            throw new MetadataException($"reference to block {block}, beyond the end of the metadata device ({_refs.LongLength} blocks)");
        _refs[block]++;
        if (_seen[block]) return false;
        _seen[block] = true;
        if (++_visited % 4096 == 0) _progress?.Report(_visited);
        return true;
    }

    /// <summary>The space map's own blocks: index, bitmaps and the ref-count btree.</summary>
    public void CountSpaceMap(SpaceMapRoot root)
    {
        Ref(root.IndexLocation);
        var index = _blocks.Read(root.IndexLocation, BlockKind.SpaceMapIndex);
        for (var i = 0; i < SpaceMapBitmap.BitmapCount(root.NrBlocks); i++)
        {
            var location = SpaceMapBitmap.ReadIndexEntry(index, i).Location;
            Ref(location);
            _blocks.Read(location, BlockKind.SpaceMapBitmap);
        }
        WalkBtree(root.RefCountRoot, 4, "space map ref-count btree", null, null);
    }

    /// <summary>
    /// Validates a btree and counts its references. Validation walks the whole tree from this root
    /// (shape, value size, max_entries, keys strictly increasing and inside the parent's range, non-root
    /// nodes at least a third full, all leaves at one depth) and gives <paramref name="validate"/> every
    /// entry in key order. Counting references each node once per parent and descends only into nodes
    /// not met before, giving <paramref name="count"/> the entries of newly met leaves: that is how a
    /// subtree shared with a snapshot is counted once per reference but walked only once.
    /// </summary>
    public void WalkBtree(long root, int valueSize, string what, BtreeEntryVisitor? validate, BtreeEntryVisitor? count)
    {
        ValidateBtree(root, valueSize, what, validate);
        CountBtree(root, count);
    }

    private void ValidateBtree(long root, int valueSize, string what, BtreeEntryVisitor? visit)
    {
        int? leafDepth = null;
        Walk(root, 0, true, 0, ulong.MaxValue);

        void Walk(long location, int depth, bool isRoot, ulong low, ulong high)
        {
            if (location <= 0 || location >= _refs.LongLength)
                throw new MetadataException($"{what}: reference to block {location}, outside the metadata device");
            var node = new BtreeNodeView(_blocks.Read(location, BlockKind.BtreeNode));
            var expected = node.IsLeaf ? valueSize : 8;
            if (node.ValueSize != expected)
                throw new CorruptBlockException(location, "btree node", $"value size {node.ValueSize}, expected {expected} ({what})");
            if (node.MaxEntries != BtreeNodeView.CalcMaxEntries(node.ValueSize))
                throw new CorruptBlockException(location, "btree node", $"max_entries {node.MaxEntries}, expected {BtreeNodeView.CalcMaxEntries(node.ValueSize)} ({what})");
            if (!isRoot && node.NrEntries < node.MaxEntries / 3)
                throw new CorruptBlockException(location, "btree node", $"too few entries: {node.NrEntries} of {node.MaxEntries} ({what})");
            if (!node.IsLeaf && node.NrEntries == 0)
                throw new CorruptBlockException(location, "btree node", $"internal node with no entries ({what})");
            for (var i = 0; i < node.NrEntries; i++)
            {
                var key = node.Key(i);
                if (i > 0 && key <= node.Key(i - 1))
                    throw new CorruptBlockException(location, "btree node", $"keys out of order at entry {i} ({what})");
                if (key < low || key >= high)
                    throw new CorruptBlockException(location, "btree node", $"key {key} outside its parent's range [{low}, {high}) ({what})");
            }
            if (node.IsLeaf)
            {
                leafDepth ??= depth;
                if (leafDepth != depth)
                    throw new CorruptBlockException(location, "btree node", $"leaf at depth {depth}, others at {leafDepth} ({what})");
                if (visit is not null) VisitLeaf(node, valueSize, visit);
                return;
            }
            var (keys, children) = Children(node);
            for (var i = 0; i < keys.Length; i++)
                Walk(children[i], depth + 1, false, keys[i], i + 1 < keys.Length ? keys[i + 1] : high);
        }
    }

    private void CountBtree(long location, BtreeEntryVisitor? visit)
    {
        if (!Ref(location)) return;
        var node = new BtreeNodeView(_blocks.Read(location, BlockKind.BtreeNode));
        if (node.IsLeaf)
        {
            if (visit is not null) VisitLeaf(node, node.ValueSize, visit);
            return;
        }
        var (_, children) = Children(node);
        foreach (var child in children) CountBtree(child, visit);
    }

    /// <summary>Copies a leaf out before visiting: the visitor reads other blocks and the cache may drop this one.</summary>
    private static void VisitLeaf(BtreeNodeView node, int valueSize, BtreeEntryVisitor visit)
    {
        var n = node.NrEntries;
        var keys = new ulong[n];
        var values = new byte[n * valueSize];
        for (var i = 0; i < n; i++)
        {
            keys[i] = node.Key(i);
            node.Value(i).CopyTo(values.AsSpan(i * valueSize));
        }
        for (var i = 0; i < n; i++) visit(keys[i], values.AsSpan(i * valueSize, valueSize));
    }

    private static (ulong[] Keys, long[] Children) Children(BtreeNodeView node)
    {
        var n = node.NrEntries;
        var keys = new ulong[n];
        var children = new long[n];
        for (var i = 0; i < n; i++)
        {
            keys[i] = node.Key(i);
            children[i] = node.Child(i);
        }
        return (keys, children);
    }

    /// <summary>
    /// Validates a dm-array (btree keys 0..n-1 in order, array blocks of the right value size, full but
    /// the last, the expected number of entries; <paramref name="validate"/> sees every block's values)
    /// and counts its references (array blocks once per referencing leaf).
    /// </summary>
    public void WalkArray(long root, int valueSize, long expectedEntries, string what, ArrayValuesVisitor? validate)
    {
        var per = ArrayBlockView.CalcMaxEntries(valueSize);
        var expectedBlocks = PersistentArray.BlockCount(expectedEntries, per);
        long nextKey = 0;
        long entries = 0;
        ValidateBtree(root, 8, what, (key, value) =>
        {
            if ((long)key != nextKey)
                throw new MetadataException($"{what}: array block {nextKey} is missing (next key is {key})");
            nextKey++;
            var location = BlockReference.Location(value);
            if (location <= 0 || location >= _refs.LongLength)
                throw new MetadataException($"{what}: array block {key} at {location}, outside the metadata device");
            var ab = new ArrayBlockView(_blocks.Read(location, BlockKind.ArrayBlock));
            if (ab.ValueSize != valueSize)
                throw new CorruptBlockException(location, "array block", $"value size {ab.ValueSize}, expected {valueSize} ({what})");
            if (ab.MaxEntries != per)
                throw new CorruptBlockException(location, "array block", $"max_entries {ab.MaxEntries}, expected {per} ({what})");
            if ((long)key < expectedBlocks - 1 && ab.NrEntries != per)
                throw new CorruptBlockException(location, "array block", $"holds {ab.NrEntries} entries, but only the last block may be partial ({what})");
            entries += ab.NrEntries;
            validate?.Invoke((long)key * per, ab.Values);
        });
        if (entries != expectedEntries)
            throw new MetadataException($"{what}: holds {entries} entries, expected {expectedEntries}");
        CountBtree(root, (_, value) => Ref(BlockReference.Location(value)));
    }

    /// <summary>
    /// Compares the counted references with the space map. Returns the damage (a count below the
    /// references); <paramref name="leaked"/> is the number of blocks counted but not referenced.
    /// </summary>
    public List<string> CompareWith(MetadataSpaceMap sm, out long leaked, int maxReported = 20)
    {
        var problems = new List<string>();
        leaked = 0;
        var bad = 0L;
        for (long b = 0; b < sm.NrBlocks; b++)
        {
            var onDisk = sm.GetCount(b);
            var counted = _refs[b];
            if (onDisk == counted) continue;
            if (onDisk > counted)
            {
                leaked++;
                continue;
            }
            if (bad++ < maxReported)
                problems.Add(onDisk == 0
                    ? $"space map: block {b} is referenced {counted} times but marked free"
                    : $"space map: block {b} is referenced {counted} times but its count is {onDisk}");
        }
        if (bad > maxReported) problems.Add($"space map: {bad - maxReported} more blocks with too low a reference count");
        for (var b = sm.NrBlocks; b < _refs.LongLength; b++)
            if (_refs[b] != 0)
                problems.Add($"space map: block {b} is referenced but lies beyond the space map's {sm.NrBlocks} blocks");
        return problems;
    }
}
