using System.Buffers.Binary;

namespace DmEra.Metadata.PersistentData;

/// <summary>
/// The layout of a dm-btree node (dm-btree-internal.h): a 32-byte header, then max_entries u64 keys,
/// then max_entries values of value_size bytes. Internal nodes hold u64 child locations as values.
/// </summary>
public readonly ref struct BtreeNodeView
{
    public const int HeaderSize = 32;
    public const uint InternalFlag = 1;
    public const uint LeafFlag = 2;

    private readonly ReadOnlySpan<byte> _b;

    public BtreeNodeView(ReadOnlySpan<byte> block) => _b = block;

    public uint Flags => BinaryPrimitives.ReadUInt32LittleEndian(_b[4..]);
    public bool IsLeaf => (Flags & LeafFlag) != 0;
    public int NrEntries => (int)BinaryPrimitives.ReadUInt32LittleEndian(_b[16..]);
    public int MaxEntries => (int)BinaryPrimitives.ReadUInt32LittleEndian(_b[20..]);
    public int ValueSize => (int)BinaryPrimitives.ReadUInt32LittleEndian(_b[24..]);

    public ulong Key(int i) => BinaryPrimitives.ReadUInt64LittleEndian(_b[(HeaderSize + 8 * i)..]);

    public ReadOnlySpan<byte> Value(int i)
    {
        var vs = ValueSize;
        return _b.Slice(HeaderSize + 8 * MaxEntries + vs * i, vs);
    }

    public long Child(int i) => (long)BinaryPrimitives.ReadUInt64LittleEndian(Value(i));

    /// <summary>The kernel's calc_max_entries: as many as fit, rounded down to a multiple of 3.</summary>
    public static int CalcMaxEntries(int valueSize)
    {
        var n = (MetadataBlock.Size - HeaderSize) / (8 + valueSize);
        return 3 * (n / 3);
    }
}

/// <summary>Writable access to a btree node's fields.</summary>
public readonly ref struct BtreeNodeWriter
{
    private readonly Span<byte> _b;

    public BtreeNodeWriter(Span<byte> block) => _b = block;

    public BtreeNodeView View => new(_b);

    public uint Flags { set => BinaryPrimitives.WriteUInt32LittleEndian(_b[4..], value); }
    public int NrEntries
    {
        get => View.NrEntries;
        set => BinaryPrimitives.WriteUInt32LittleEndian(_b[16..], (uint)value);
    }

    public void Init(bool leaf, int valueSize)
    {
        _b[..MetadataBlock.Size].Clear();
        Flags = leaf ? BtreeNodeView.LeafFlag : BtreeNodeView.InternalFlag;
        BinaryPrimitives.WriteUInt32LittleEndian(_b[20..], (uint)BtreeNodeView.CalcMaxEntries(valueSize));
        BinaryPrimitives.WriteUInt32LittleEndian(_b[24..], (uint)valueSize);
    }

    public void SetKey(int i, ulong key) =>
        BinaryPrimitives.WriteUInt64LittleEndian(_b[(BtreeNodeView.HeaderSize + 8 * i)..], key);

    public Span<byte> Value(int i)
    {
        var v = View;
        return _b.Slice(BtreeNodeView.HeaderSize + 8 * v.MaxEntries + v.ValueSize * i, v.ValueSize);
    }

    public void SetChild(int i, long child) => BinaryPrimitives.WriteUInt64LittleEndian(Value(i), (ulong)child);

    /// <summary>Opens a gap at <paramref name="i"/> (keys and values shift right by one).</summary>
    public void InsertGap(int i)
    {
        var v = View;
        int n = v.NrEntries, max = v.MaxEntries, vs = v.ValueSize;
        var keys = _b.Slice(BtreeNodeView.HeaderSize, 8 * max);
        keys.Slice(8 * i, 8 * (n - i)).CopyTo(keys[(8 * (i + 1))..]);
        var values = _b.Slice(BtreeNodeView.HeaderSize + 8 * max, vs * max);
        values.Slice(vs * i, vs * (n - i)).CopyTo(values[(vs * (i + 1))..]);
        NrEntries = n + 1;
    }

    /// <summary>Closes entry <paramref name="i"/> (keys and values shift left by one).</summary>
    public void RemoveAt(int i)
    {
        var v = View;
        int n = v.NrEntries, max = v.MaxEntries, vs = v.ValueSize;
        var keys = _b.Slice(BtreeNodeView.HeaderSize, 8 * max);
        keys.Slice(8 * (i + 1), 8 * (n - i - 1)).CopyTo(keys[(8 * i)..]);
        var values = _b.Slice(BtreeNodeView.HeaderSize + 8 * max, vs * max);
        values.Slice(vs * (i + 1), vs * (n - i - 1)).CopyTo(values[(vs * i)..]);
        NrEntries = n - 1;
    }

    /// <summary>Copies entries [from, from+count) of <paramref name="src"/> to position <paramref name="to"/> here.</summary>
    public void CopyEntries(BtreeNodeView src, int from, int to, int count)
    {
        for (var k = 0; k < count; k++)
        {
            SetKey(to + k, src.Key(from + k));
            src.Value(from + k).CopyTo(Value(to + k));
        }
    }
}
