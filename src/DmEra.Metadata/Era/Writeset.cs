using System.Buffers.Binary;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Era;

/// <summary>
/// One era's writeset read from disk: bit b set means block b was written in <see cref="Era"/>. Reads are
/// sequential-friendly: the last bitset block read is kept, so walking bits in order reads each block once.
/// </summary>
public sealed class Writeset(PersistentBitset bitset, uint era, WritesetRoot root)
{
    private uint _blockIndex = uint.MaxValue;
    private byte[] _words = [];

    public uint Era => era;
    public WritesetRoot Root => root;
    public uint NrBits => root.NrBits;

    /// <summary>Whether block <paramref name="bit"/> is marked; bits past <see cref="NrBits"/> are not.</summary>
    public bool Test(uint bit)
    {
        if (bit >= root.NrBits) return false;
        var blockIndex = bit / (uint)bitset.BitsPerBlock;
        if (blockIndex != _blockIndex)
        {
            _words = bitset.ReadWords(root.Root, blockIndex).ToArray();
            _blockIndex = blockIndex;
        }
        var w = (int)(bit % (uint)bitset.BitsPerBlock / 64);
        if (w * 8 >= _words.Length)
            throw new MetadataException($"bitset too short: bit {bit} of {root.NrBits} is missing");
        return (BinaryPrimitives.ReadUInt64LittleEndian(_words.AsSpan(w * 8)) >> (int)(bit % 64) & 1) != 0;
    }
}
