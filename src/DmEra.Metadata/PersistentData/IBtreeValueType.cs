using System.Buffers.Binary;

namespace DmEra.Metadata.PersistentData;

/// <summary>
/// What a btree's leaf values mean to reference counting (dm_btree_value_type). When a shared leaf is
/// copied every value gains a reference; when a value is overwritten or removed, or the last reference
/// to a leaf goes, it loses one.
/// </summary>
public interface IBtreeValueType
{
    int Size { get; }
    void Inc(TransactionManager tm, ReadOnlySpan<byte> value);
    void Dec(TransactionManager tm, ReadOnlySpan<byte> value);
}

/// <summary>Values that reference nothing (era numbers, reference counts).</summary>
public sealed class PlainValue(int size) : IBtreeValueType
{
    public static readonly PlainValue U32 = new(4);
    public static readonly PlainValue U64 = new(8);

    public int Size { get; } = size;
    public void Inc(TransactionManager tm, ReadOnlySpan<byte> value) { }
    public void Dec(TransactionManager tm, ReadOnlySpan<byte> value) { }
}

/// <summary>Values that are locations of blocks holding no further references (dm-array's array blocks).</summary>
public sealed class BlockReference : IBtreeValueType
{
    public static readonly BlockReference Instance = new();

    public int Size => 8;
    public void Inc(TransactionManager tm, ReadOnlySpan<byte> value) => tm.Inc(Location(value));
    public void Dec(TransactionManager tm, ReadOnlySpan<byte> value) => tm.Dec(Location(value));

    public static long Location(ReadOnlySpan<byte> value) => (long)BinaryPrimitives.ReadUInt64LittleEndian(value);
}
