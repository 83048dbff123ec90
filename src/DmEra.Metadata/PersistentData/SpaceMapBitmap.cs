using System.Buffers.Binary;

namespace DmEra.Metadata.PersistentData;

/// <summary>
/// The space map's on-disk pieces (dm-space-map-common.h): bitmap blocks of 2-bit reference counts and
/// the single index block of the metadata space map. In each 2-bit entry the lower bit position holds
/// the count's high bit: count = bit[p] &lt;&lt; 1 | bit[p+1] (sm_lookup_bitmap). 3 means "see the ref-count btree".
/// </summary>
public static class SpaceMapBitmap
{
    public const int HeaderSize = 16;
    public const int EntriesPerBlock = (MetadataBlock.Size - HeaderSize) * 4;   // 16320
    public const int MaxIndexEntries = 255;                                     // MAX_METADATA_BITMAPS
    public const long MaxMetadataBlocks = (long)MaxIndexEntries * EntriesPerBlock; // DM_SM_METADATA_MAX_BLOCKS
    private const int IndexEntrySize = 16;
    private const int IndexEntriesOffset = 16;

    public static int Decode(ReadOnlySpan<byte> block, int entry)
    {
        var word = BinaryPrimitives.ReadUInt64LittleEndian(block[(HeaderSize + 8 * (entry >> 5))..]);
        var p = 2 * (entry & 31);
        return (int)(((word >> p) & 1) << 1 | ((word >> (p + 1)) & 1));
    }

    /// <summary>Encodes up to <see cref="EntriesPerBlock"/> counts (already capped at 3) into a zeroed bitmap block.</summary>
    public static void Encode(Span<byte> block, ReadOnlySpan<byte> counts)
    {
        for (var w = 0; w * 32 < counts.Length; w++)
        {
            ulong word = 0;
            var end = Math.Min(32, counts.Length - w * 32);
            for (var k = 0; k < end; k++)
            {
                ulong c = counts[w * 32 + k];
                if (c == 0) continue;
                var p = 2 * k;
                word |= ((c >> 1) & 1) << p | (c & 1) << (p + 1);
            }
            BinaryPrimitives.WriteUInt64LittleEndian(block[(HeaderSize + 8 * w)..], word);
        }
    }

    public readonly record struct IndexEntry(long Location, uint NrFree, uint NoneFreeBefore);

    public static IndexEntry ReadIndexEntry(ReadOnlySpan<byte> index, int i)
    {
        var e = index[(IndexEntriesOffset + IndexEntrySize * i)..];
        return new IndexEntry((long)BinaryPrimitives.ReadUInt64LittleEndian(e),
            BinaryPrimitives.ReadUInt32LittleEndian(e[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(e[12..]));
    }

    public static void WriteIndexEntry(Span<byte> index, int i, IndexEntry entry)
    {
        var e = index[(IndexEntriesOffset + IndexEntrySize * i)..];
        BinaryPrimitives.WriteUInt64LittleEndian(e, (ulong)entry.Location);
        BinaryPrimitives.WriteUInt32LittleEndian(e[8..], entry.NrFree);
        BinaryPrimitives.WriteUInt32LittleEndian(e[12..], entry.NoneFreeBefore);
    }

    public static int BitmapCount(long nrBlocks) => (int)((nrBlocks + EntriesPerBlock - 1) / EntriesPerBlock);
}
