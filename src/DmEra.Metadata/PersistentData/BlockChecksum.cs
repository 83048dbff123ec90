using System.Buffers.Binary;
using System.Numerics;

namespace DmEra.Metadata.PersistentData;

/// <summary>
/// persistent-data's block checksum: CRC-32C over bytes 4..4095 with seed 0xFFFFFFFF and no final
/// inversion (the kernel's raw crc32c()), XORed with a salt that says what kind of block it is.
/// </summary>
public static class BlockChecksum
{
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        var i = 0;
        for (; i + 8 <= data.Length; i += 8)
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        for (; i < data.Length; i++)
            crc = BitOperations.Crc32C(crc, data[i]);
        return crc;
    }

    public static uint Compute(ReadOnlySpan<byte> block, uint salt) => Crc32C(block[4..MetadataBlock.Size]) ^ salt;

    public static uint Stored(ReadOnlySpan<byte> block) => BinaryPrimitives.ReadUInt32LittleEndian(block);

    public static void Store(Span<byte> block, uint salt) =>
        BinaryPrimitives.WriteUInt32LittleEndian(block, Compute(block, salt));
}
