using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace DmEra.Metadata.PersistentData;

/// <summary>
/// dm-bitset: a dm-array of little-endian u64 words, bit i being bit (i % 64) of word i / 64. Writes
/// go straight to the array (no one-word cache), so there is nothing to flush before a commit or an
/// archive, and no cache to go stale between writesets (the kernel's bug 2524933307).
/// </summary>
public sealed class PersistentBitset
{
    public const int BitsPerWord = 64;
    private readonly PersistentArray _words;

    public PersistentBitset(TransactionManager tm) => _words = new PersistentArray(tm, 8);

    public PersistentArray Words => _words;
    public int BitsPerBlock => _words.EntriesPerBlock * BitsPerWord;

    public static uint WordCount(uint nrBits) => (uint)(((ulong)nrBits + BitsPerWord - 1) / BitsPerWord);

    public long CreateEmpty(uint nrBits) =>
        _words.Resize(_words.CreateEmpty(), 0, WordCount(nrBits), stackalloc byte[8]);

    /// <summary>
    /// Sets every bit in <paramref name="sortedBits"/> (ascending, duplicates allowed), touching each
    /// array block once: cost follows the number of blocks changed, not the bitset's size.
    /// </summary>
    public long SetBits(long root, ReadOnlySpan<uint> sortedBits)
    {
        var bitsPerBlock = (uint)BitsPerBlock;
        var i = 0;
        while (i < sortedBits.Length)
        {
            var blockIndex = sortedBits[i] / bitsPerBlock;
            var j = i;
            while (j < sortedBits.Length && sortedBits[j] / bitsPerBlock == blockIndex) j++;
            var bits = sortedBits[i..j].ToArray();
            var firstBit = blockIndex * bitsPerBlock;
            root = _words.EditBlock(root, blockIndex, block =>
            {
                var nr = (int)new ArrayBlockView(block).NrEntries;
                var words = MemoryMarshal.Cast<byte, ulong>(block.Slice(ArrayBlockView.HeaderSize, nr * 8));
                foreach (var bit in bits)
                {
                    var w = (int)((bit - firstBit) / BitsPerWord);
                    if (w >= nr) throw new MetadataException($"bit {bit} is beyond the end of the bitset");
                    // Stored little-endian; this machine is too (BitConverter.IsLittleEndian is asserted at startup).
                    words[w] |= 1UL << (int)(bit % BitsPerWord);
                }
            });
            i = j;
        }
        return root;
    }

    public bool Test(long root, uint bit)
    {
        var values = _words.ReadBlock(root, bit / (uint)BitsPerBlock, out _);
        var w = (int)(bit % (uint)BitsPerBlock / BitsPerWord);
        if (w * 8 >= values.Length) throw new MetadataException($"bit {bit} is beyond the end of the bitset");
        return (BinaryPrimitives.ReadUInt64LittleEndian(values[(w * 8)..]) >> (int)(bit % BitsPerWord) & 1) != 0;
    }

    /// <summary>The words of array block <paramref name="blockIndex"/>.</summary>
    public ReadOnlySpan<byte> ReadWords(long root, uint blockIndex) => _words.ReadBlock(root, blockIndex, out _);

    public void Delete(long root) => _words.Delete(root);
}
