using System.Buffers.Binary;

namespace DmEra.Metadata.PersistentData;

public delegate void BtreeEntryVisitor(ulong key, ReadOnlySpan<byte> value);

/// <summary>
/// A single-level dm-btree with u64 keys (dm-btree.c's on-disk format). Every modifying call takes
/// the current root and returns the new one: roots move as nodes are shadowed. Nodes stay at least a
/// third full (the tools' check for non-root nodes) by splitting in halves and merging or
/// redistributing with a sibling on removal. Internal key i is at most the lowest key under child i.
/// </summary>
public sealed class Btree
{
    private readonly TransactionManager _tm;
    private readonly IBtreeValueType _valueType;

    public Btree(TransactionManager tm, IBtreeValueType valueType)
    {
        _tm = tm;
        _valueType = valueType;
    }

    public IBtreeValueType ValueType => _valueType;

    public long CreateEmpty()
    {
        var (location, data) = _tm.NewBlock(BlockKind.BtreeNode);
        new BtreeNodeWriter(data).Init(leaf: true, _valueType.Size);
        return location;
    }

    public bool TryLookup(long root, ulong key, Span<byte> value)
    {
        var location = root;
        while (true)
        {
            var node = ReadNode(location);
            if (node.IsLeaf)
            {
                var i = LowerBound(node, key);
                if (i >= node.NrEntries || node.Key(i) != key) return false;
                node.Value(i).CopyTo(value);
                return true;
            }
            var c = ChildIndex(node, key);
            if (c < 0) return false;
            location = node.Child(c);
        }
    }

    /// <summary>The lowest key and its value, or false for an empty tree.</summary>
    public bool TryFindLowest(long root, out ulong key, Span<byte> value)
    {
        var location = root;
        while (true)
        {
            var node = ReadNode(location);
            if (node.NrEntries == 0) { key = 0; return false; }
            if (node.IsLeaf)
            {
                key = node.Key(0);
                node.Value(0).CopyTo(value);
                return true;
            }
            location = node.Child(0);
        }
    }

    /// <summary>Visits every entry in key order.</summary>
    public void Walk(long root, BtreeEntryVisitor visit) => Walk(root, 0, ulong.MaxValue, visit);

    /// <summary>
    /// Visits the entries with keys in [<paramref name="fromKey"/>, <paramref name="toKey"/>) in key order,
    /// reading only the nodes that can hold them (a short range costs a lookup, not a whole walk).
    /// </summary>
    public void Walk(long root, ulong fromKey, ulong toKey, BtreeEntryVisitor visit)
    {
        var node = ReadNode(root);
        var n = node.NrEntries;
        if (node.IsLeaf)
        {
            for (var i = 0; i < n; i++)
            {
                var key = node.Key(i);
                if (key >= toKey) return;
                if (key >= fromKey) visit(key, node.Value(i));
            }
            return;
        }
        // Child i holds keys from Key(i) up to, not including, Key(i + 1).
        var children = new List<long>(n);
        for (var i = 0; i < n; i++)
        {
            if (i > 0 && node.Key(i) >= toKey) break;
            if (i + 1 < n && node.Key(i + 1) <= fromKey) continue;
            children.Add(node.Child(i));
        }
        foreach (var child in children) Walk(child, fromKey, toKey, visit);
    }

    /// <summary>Inserts or overwrites; an overwritten value loses its reference.</summary>
    public long Insert(long root, ulong key, ReadOnlySpan<byte> value)
    {
        if (value.Length != _valueType.Size) throw new ArgumentException("value size mismatch", nameof(value));
        var (newRoot, split) = InsertInto(root, key, value);
        if (split is not { } s) return newRoot;
        var (location, data) = _tm.NewBlock(BlockKind.BtreeNode);
        var w = new BtreeNodeWriter(data);
        w.Init(leaf: false, 8);
        w.NrEntries = 2;
        w.SetKey(0, ReadNode(newRoot).Key(0));
        w.SetChild(0, newRoot);
        w.SetKey(1, s.Key);
        w.SetChild(1, s.Right);
        return location;
    }

    /// <summary>Removes <paramref name="key"/> if present (its value loses a reference).</summary>
    public long Remove(long root, ulong key, out bool found)
    {
        Span<byte> scratch = stackalloc byte[_valueType.Size];
        found = TryLookup(root, key, scratch);
        if (!found) return root;
        var newRoot = RemoveFrom(root, key);
        // A root left with one child hands the tree to that child (dm_btree_remove's collapse).
        while (true)
        {
            var node = ReadNode(newRoot);
            if (node.IsLeaf || node.NrEntries != 1) return newRoot;
            var child = node.Child(0);
            _tm.Dec(newRoot);
            newRoot = child;
        }
    }

    /// <summary>Drops one reference to the tree; whatever is no longer referenced is freed (dm_btree_del).</summary>
    public void Delete(long root)
    {
        if (_tm.SpaceMap.GetCount(root) > 1)
        {
            _tm.Dec(root);
            return;
        }
        // Copy before the last reference goes: a freed block's buffer is forgotten with it.
        var data = (byte[])_tm.Read(root, BlockKind.BtreeNode).Clone();
        _tm.Dec(root);
        DeleteChildren(data);
    }

    private void DeleteChildren(byte[] data)
    {
        var node = new BtreeNodeView(data);
        var n = node.NrEntries;
        if (node.IsLeaf)
        {
            for (var i = 0; i < n; i++) _valueType.Dec(_tm, node.Value(i));
            return;
        }
        for (var i = 0; i < n; i++) Delete(node.Child(i));
    }

    private readonly record struct Split(ulong Key, long Right);

    private (long Location, Split? Split) InsertInto(long location, ulong key, ReadOnlySpan<byte> value)
    {
        var (loc, data) = ShadowNode(location);
        var w = new BtreeNodeWriter(data);
        var node = w.View;
        if (node.IsLeaf)
        {
            var i = LowerBound(node, key);
            if (i < node.NrEntries && node.Key(i) == key)
            {
                var old = w.Value(i);
                if (!old.SequenceEqual(value)) _valueType.Dec(_tm, old);
                value.CopyTo(w.Value(i));
                return (loc, null);
            }
            if (node.NrEntries < node.MaxEntries)
            {
                InsertEntry(w, i, key, value);
                return (loc, null);
            }
            var (rightLoc, rightData) = SplitNode(w, appending: i == node.NrEntries);
            var right = new BtreeNodeWriter(rightData);
            if (key >= right.View.Key(0)) InsertEntry(right, LowerBound(right.View, key), key, value);
            else InsertEntry(w, LowerBound(w.View, key), key, value);
            return (loc, new Split(right.View.Key(0), rightLoc));
        }

        var c = ChildIndex(node, key);
        if (c < 0)
        {
            c = 0;
            w.SetKey(0, key);
        }
        var (childLoc, childSplit) = InsertInto(node.Child(c), key, value);
        w.SetChild(c, childLoc);
        if (childSplit is not { } s) return (loc, null);

        Span<byte> child = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(child, (ulong)s.Right);
        if (w.View.NrEntries < w.View.MaxEntries)
        {
            InsertEntry(w, c + 1, s.Key, child);
            return (loc, null);
        }
        var (rLoc, rData) = SplitNode(w, appending: c + 1 == w.View.NrEntries);
        var r = new BtreeNodeWriter(rData);
        var leftCount = w.View.NrEntries;
        if (c + 1 <= leftCount)
            InsertEntry(w, c + 1, s.Key, child);
        else
            InsertEntry(r, c + 1 - leftCount, s.Key, child);
        return (loc, new Split(r.View.Key(0), rLoc));
    }

    private static void InsertEntry(BtreeNodeWriter w, int i, ulong key, ReadOnlySpan<byte> value)
    {
        w.InsertGap(i);
        w.SetKey(i, key);
        value.CopyTo(w.Value(i));
    }

    /// <summary>
    /// Moves the upper part of a full node into a new sibling. Half and half in general; two thirds stay
    /// left when the split comes from appending at the end (arrays are built that way), so a tree grown
    /// in key order is two thirds full, and the right third still meets the tools' minimum of max/3.
    /// </summary>
    private (long Location, byte[] Data) SplitNode(BtreeNodeWriter left, bool appending)
    {
        var node = left.View;
        var (location, data) = _tm.NewBlock(BlockKind.BtreeNode);
        var right = new BtreeNodeWriter(data);
        right.Init(node.IsLeaf, node.ValueSize);
        var n = node.NrEntries;
        var keep = appending ? 2 * n / 3 : n / 2;
        right.CopyEntries(node, keep, 0, n - keep);
        right.NrEntries = n - keep;
        left.NrEntries = keep;
        return (location, data);
    }

    private long RemoveFrom(long location, ulong key)
    {
        var (loc, data) = ShadowNode(location);
        var w = new BtreeNodeWriter(data);
        var node = w.View;
        if (node.IsLeaf)
        {
            var i = LowerBound(node, key);
            _valueType.Dec(_tm, node.Value(i));
            w.RemoveAt(i);
            return loc;
        }
        var c = ChildIndex(node, key);
        var childLoc = RemoveFrom(node.Child(c), key);
        w.SetChild(c, childLoc);
        var childNode = ReadNode(childLoc);
        if (childNode.NrEntries < MinEntries(childNode.MaxEntries) && w.View.NrEntries > 1)
            Rebalance(w, c);
        return loc;
    }

    private static int MinEntries(int maxEntries) => maxEntries / 3;

    /// <summary>Merges child <paramref name="c"/> with a sibling, or evens them out when both won't fit in one.</summary>
    private void Rebalance(BtreeNodeWriter parent, int c)
    {
        var (l, r) = c + 1 < parent.View.NrEntries ? (c, c + 1) : (c - 1, c);
        var (lLoc, lData) = ShadowNode(parent.View.Child(l));
        parent.SetChild(l, lLoc);
        var (rLoc, rData) = ShadowNode(parent.View.Child(r));
        parent.SetChild(r, rLoc);
        var left = new BtreeNodeWriter(lData);
        var right = new BtreeNodeWriter(rData);
        int nl = left.View.NrEntries, nr = right.View.NrEntries, max = left.View.MaxEntries;

        if (nl + nr <= max)
        {
            left.CopyEntries(right.View, 0, nl, nr);
            left.NrEntries = nl + nr;
            parent.RemoveAt(r);
            // The entries moved with their references; only the emptied node itself goes.
            _tm.Dec(rLoc);
            return;
        }

        var targetLeft = (nl + nr) / 2;
        if (nl > targetLeft)
        {
            var move = nl - targetLeft;
            for (var k = 0; k < move; k++) right.InsertGap(0);
            right.CopyEntries(left.View, targetLeft, 0, move);
            left.NrEntries = targetLeft;
        }
        else if (nl < targetLeft)
        {
            var move = targetLeft - nl;
            left.CopyEntries(right.View, 0, nl, move);
            left.NrEntries = targetLeft;
            for (var k = 0; k < move; k++) right.RemoveAt(0);
        }
        parent.SetKey(r, right.View.Key(0));
    }

    private (long Location, byte[] Data) ShadowNode(long location)
    {
        var s = _tm.Shadow(location, BlockKind.BtreeNode);
        if (s.IncChildren) IncChildren(s.Data);
        return (s.Location, s.Data);
    }

    private void IncChildren(byte[] data)
    {
        var node = new BtreeNodeView(data);
        if (node.IsLeaf)
            for (var i = 0; i < node.NrEntries; i++) _valueType.Inc(_tm, node.Value(i));
        else
            for (var i = 0; i < node.NrEntries; i++) _tm.Inc(node.Child(i));
    }

    private BtreeNodeView ReadNode(long location)
    {
        var data = _tm.Read(location, BlockKind.BtreeNode);
        var node = new BtreeNodeView(data);
        var expected = node.IsLeaf ? _valueType.Size : 8;
        if (node.ValueSize != expected)
            throw new CorruptBlockException(location, "btree node", $"value size {node.ValueSize}, expected {expected}");
        return node;
    }

    /// <summary>First index whose key is ≥ <paramref name="key"/>.</summary>
    private static int LowerBound(BtreeNodeView node, ulong key)
    {
        int lo = 0, hi = node.NrEntries;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (node.Key(mid) < key) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /// <summary>The child whose range holds <paramref name="key"/>: the last key ≤ it, or -1.</summary>
    private static int ChildIndex(BtreeNodeView node, ulong key)
    {
        int lo = 0, hi = node.NrEntries;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (node.Key(mid) <= key) lo = mid + 1;
            else hi = mid;
        }
        return lo - 1;
    }
}
