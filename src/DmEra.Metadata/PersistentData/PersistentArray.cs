using System.Buffers.Binary;

namespace DmEra.Metadata.PersistentData;

public delegate void ArrayValuesEditor(Span<byte> values);
public delegate void ArrayBlockVisitor(uint blockIndex, ReadOnlySpan<byte> values);

/// <summary>
/// dm-array: a fully populated btree from block index to array blocks of packed fixed-size values.
/// Growing shares one block of default values among all the new full blocks (by reference count), so
/// a new 2^24-bit bitset costs a handful of blocks; the first write to a shared block copies it.
/// </summary>
public sealed class PersistentArray
{
    private readonly TransactionManager _tm;
    private readonly Btree _btree;

    public PersistentArray(TransactionManager tm, int valueSize)
    {
        _tm = tm;
        ValueSize = valueSize;
        EntriesPerBlock = ArrayBlockView.CalcMaxEntries(valueSize);
        _btree = new Btree(tm, BlockReference.Instance);
    }

    public int ValueSize { get; }
    public TransactionManager Transactions => _tm;
    public int EntriesPerBlock { get; }
    public Btree Btree => _btree;

    public long CreateEmpty() => _btree.CreateEmpty();

    public static long BlockCount(long entries, int perBlock) => (entries + perBlock - 1) / perBlock;

    /// <summary>Resizes from <paramref name="oldSize"/> to <paramref name="newSize"/> entries; new entries take <paramref name="defaultValue"/>.</summary>
    public long Resize(long root, uint oldSize, uint newSize, ReadOnlySpan<byte> defaultValue)
    {
        if (newSize == oldSize) return root;
        return newSize > oldSize ? Grow(root, oldSize, newSize, defaultValue) : Shrink(root, oldSize, newSize);
    }

    private long Grow(long root, uint oldSize, uint newSize, ReadOnlySpan<byte> defaultValue)
    {
        var per = EntriesPerBlock;
        var oldBlocks = (uint)BlockCount(oldSize, per);
        var tail = (int)(oldSize % (uint)per);
        if (tail != 0)
        {
            // Top up the partial last block first.
            var fill = (int)Math.Min(per, tail + (newSize - oldSize));
            var dv = defaultValue.ToArray();
            root = EditBlock(root, oldBlocks - 1, block =>
            {
                ArrayBlockView.SetNrEntries(block, fill);
                var values = ArrayBlockView.WritableValues(block, ValueSize, fill);
                for (var i = tail; i < fill; i++) dv.CopyTo(values[(i * ValueSize)..]);
            });
        }
        var fullBlocks = newSize / (uint)per;
        var newTail = (int)(newSize % (uint)per);
        Span<byte> key = stackalloc byte[8];
        if (fullBlocks > oldBlocks)
        {
            var shared = NewFilledBlock(per, defaultValue);
            for (var b = oldBlocks; b < fullBlocks; b++)
            {
                if (b != oldBlocks) _tm.Inc(shared);
                BinaryPrimitives.WriteUInt64LittleEndian(key, (ulong)shared);
                root = _btree.Insert(root, b, key);
            }
        }
        var newBlocks = (uint)BlockCount(newSize, per);
        if (newTail != 0 && newBlocks > oldBlocks && newBlocks - 1 >= Math.Max(oldBlocks, fullBlocks))
        {
            var last = NewFilledBlock(newTail, defaultValue);
            BinaryPrimitives.WriteUInt64LittleEndian(key, (ulong)last);
            root = _btree.Insert(root, newBlocks - 1, key);
        }
        return root;
    }

    private long Shrink(long root, uint oldSize, uint newSize)
    {
        var per = EntriesPerBlock;
        var oldBlocks = (uint)BlockCount(oldSize, per);
        var newBlocks = (uint)BlockCount(newSize, per);
        for (var b = oldBlocks; b > newBlocks; b--)
            root = _btree.Remove(root, b - 1, out _);
        var tail = (int)(newSize % (uint)per);
        if (tail != 0)
            root = EditBlock(root, newBlocks - 1, block =>
            {
                ArrayBlockView.SetNrEntries(block, tail);
                block[(ArrayBlockView.HeaderSize + tail * ValueSize)..].Clear();
            });
        return root;
    }

    private long NewFilledBlock(int entries, ReadOnlySpan<byte> value)
    {
        var (location, data) = _tm.NewBlock(BlockKind.ArrayBlock);
        ArrayBlockView.Init(data, ValueSize, entries);
        var values = ArrayBlockView.WritableValues(data, ValueSize, entries);
        if (value.IndexOfAnyExcept((byte)0) >= 0)
            for (var i = 0; i < entries; i++) value.CopyTo(values[(i * ValueSize)..]);
        return location;
    }

    /// <summary>Appends a whole block of values (restore builds arrays this way, block by block).</summary>
    public long AppendBlock(long root, uint blockIndex, ReadOnlySpan<byte> values)
    {
        var entries = values.Length / ValueSize;
        var (location, data) = _tm.NewBlock(BlockKind.ArrayBlock);
        ArrayBlockView.Init(data, ValueSize, entries);
        values.CopyTo(ArrayBlockView.WritableValues(data, ValueSize, entries));
        Span<byte> key = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(key, (ulong)location);
        return _btree.Insert(root, blockIndex, key);
    }

    public void Get(long root, uint index, Span<byte> value)
    {
        var values = ReadBlock(root, (uint)(index / EntriesPerBlock), out _);
        var slot = (int)(index % EntriesPerBlock);
        if (slot * ValueSize >= values.Length)
            throw new MetadataException($"array index {index} is beyond the end of the array");
        values.Slice(slot * ValueSize, ValueSize).CopyTo(value);
    }

    public long Set(long root, uint index, ReadOnlySpan<byte> value)
    {
        var slot = (int)(index % EntriesPerBlock);
        var v = value.ToArray();
        return EditBlock(root, (uint)(index / EntriesPerBlock), block =>
        {
            var nr = (int)new ArrayBlockView(block).NrEntries;
            if (slot >= nr) throw new MetadataException($"array index {index} is beyond the end of the array");
            v.CopyTo(block[(ArrayBlockView.HeaderSize + slot * ValueSize)..]);
        });
    }

    /// <summary>Values of one array block (read-only view of the cached block).</summary>
    public ReadOnlySpan<byte> ReadBlock(long root, uint blockIndex, out long location)
    {
        Span<byte> key = stackalloc byte[8];
        if (!_btree.TryLookup(root, blockIndex, key))
            throw new MetadataException($"array block {blockIndex} is missing from the array's btree");
        location = BlockReference.Location(key);
        var data = _tm.Read(location, BlockKind.ArrayBlock);
        var ab = new ArrayBlockView(data);
        if (ab.ValueSize != ValueSize)
            throw new CorruptBlockException(location, "array block", $"value size {ab.ValueSize}, expected {ValueSize}");
        return ab.Values;
    }

    /// <summary>
    /// Edits one array block in place, shadowing it (and the btree path to it) first. The whole
    /// block is passed so an edit can change nr_entries; values start at offset 24.
    /// </summary>
    public long EditBlock(long root, uint blockIndex, ArrayValuesEditor edit)
    {
        Span<byte> key = stackalloc byte[8];
        if (!_btree.TryLookup(root, blockIndex, key))
            throw new MetadataException($"array block {blockIndex} is missing from the array's btree");
        var old = BlockReference.Location(key);
        var shadow = _tm.Shadow(old, BlockKind.ArrayBlock);
        var ab = new ArrayBlockView(shadow.Data);
        if (ab.ValueSize != ValueSize)
            throw new CorruptBlockException(old, "array block", $"value size {ab.ValueSize}, expected {ValueSize}");
        edit(shadow.Data);
        if (shadow.Location == old) return root;
        // Shadow dropped the old block's reference, but the btree still holds it until the overwrite
        // below drops it again: give it back so the count does not go below zero (dm-array's way).
        _tm.Inc(old);
        BinaryPrimitives.WriteUInt64LittleEndian(key, (ulong)shadow.Location);
        return _btree.Insert(root, blockIndex, key);
    }

    /// <summary>Visits every array block in index order.</summary>
    public void Walk(long root, ArrayBlockVisitor visit) => Walk(root, 0, uint.MaxValue, visit);

    /// <summary>Visits the array blocks with indexes in [<paramref name="fromBlock"/>, <paramref name="toBlock"/>) in index order.</summary>
    public void Walk(long root, uint fromBlock, uint toBlock, ArrayBlockVisitor visit)
    {
        _btree.Walk(root, fromBlock, toBlock, (key, value) =>
        {
            var location = BlockReference.Location(value);
            var data = _tm.Read(location, BlockKind.ArrayBlock);
            var ab = new ArrayBlockView(data);
            if (ab.ValueSize != ValueSize)
                throw new CorruptBlockException(location, "array block", $"value size {ab.ValueSize}, expected {ValueSize}");
            visit((uint)key, ab.Values);
        });
    }

    public void Delete(long root) => _btree.Delete(root);
}
