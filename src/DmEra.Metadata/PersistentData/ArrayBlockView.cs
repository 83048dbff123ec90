using System.Buffers.Binary;

namespace DmEra.Metadata.PersistentData;

/// <summary>
/// A dm-array block: a 24-byte header (csum, max_entries, nr_entries, value_size, blocknr) and the
/// values packed after it. max_entries = (4096 - 24) / value_size.
/// </summary>
public readonly ref struct ArrayBlockView
{
    public const int HeaderSize = 24;

    private readonly ReadOnlySpan<byte> _b;

    public ArrayBlockView(ReadOnlySpan<byte> block) => _b = block;

    public uint MaxEntries => BinaryPrimitives.ReadUInt32LittleEndian(_b[4..]);
    public uint NrEntries => BinaryPrimitives.ReadUInt32LittleEndian(_b[8..]);
    public uint ValueSize => BinaryPrimitives.ReadUInt32LittleEndian(_b[12..]);
    public ReadOnlySpan<byte> Values => _b.Slice(HeaderSize, (int)(NrEntries * ValueSize));

    public static int CalcMaxEntries(int valueSize) => (MetadataBlock.Size - HeaderSize) / valueSize;

    public static void Init(Span<byte> block, int valueSize, int nrEntries)
    {
        block[..MetadataBlock.Size].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(block[4..], (uint)CalcMaxEntries(valueSize));
        SetNrEntries(block, nrEntries);
        BinaryPrimitives.WriteUInt32LittleEndian(block[12..], (uint)valueSize);
    }

    public static void SetNrEntries(Span<byte> block, int nrEntries) =>
        BinaryPrimitives.WriteUInt32LittleEndian(block[8..], (uint)nrEntries);

    public static Span<byte> WritableValues(Span<byte> block, int valueSize, int count) =>
        block.Slice(HeaderSize, valueSize * count);
}
