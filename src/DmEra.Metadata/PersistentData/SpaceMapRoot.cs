using System.Buffers.Binary;

namespace DmEra.Metadata.PersistentData;

/// <summary>disk_sm_root: the 32 bytes at the start of the superblock's 128-byte space-map field.</summary>
public readonly record struct SpaceMapRoot(long NrBlocks, long NrAllocated, long IndexLocation, long RefCountRoot)
{
    public const int Size = 32;

    public void Pack(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)NrBlocks);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], (ulong)NrAllocated);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], (ulong)IndexLocation);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], (ulong)RefCountRoot);
    }

    public static SpaceMapRoot Unpack(ReadOnlySpan<byte> b) => new(
        (long)BinaryPrimitives.ReadUInt64LittleEndian(b),
        (long)BinaryPrimitives.ReadUInt64LittleEndian(b[8..]),
        (long)BinaryPrimitives.ReadUInt64LittleEndian(b[16..]),
        (long)BinaryPrimitives.ReadUInt64LittleEndian(b[24..]));
}
