#nullable enable
using System.Buffers.Binary;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;

namespace DmEra.Engine.Tracking;

/// <summary>
/// "In which era was block b last written?" over the live metadata: the maximum of the era array, every
/// undigested writeset in the tree that marks b, and the current era if its durable in-core bit is set
/// (what <c>era_dump --logical</c> computes, plus the current writeset). "Written since era N" is
/// <c>era ≥ N</c>, the inclusive rule of era_invalidate. Runs on the metadata writer's thread only.
/// </summary>
internal static class EraQuery
{
    public static uint[] ErasOf(EraMetadata md, InCoreWriteset current, uint currentEra, uint first, int count)
    {
        var eras = ErasOf(md.Transactions, md.EraArrayRoot, md.WritesetTreeRoot, md.NrBlocks, first, count);
        for (var b = first; b < first + (uint)count; b++)
            if (current.IsMarked(b)) eras[b - first] = currentEra;
        return eras;
    }

    /// <summary>
    /// The same answer from the trees of a held metadata snapshot (a backup view's instant): its current
    /// writeset was archived when it was taken, so the era array and the archived writesets are the whole answer.
    /// </summary>
    public static uint[] ErasOfSnapshot(EraMetadata md, long heldRoot, uint first, int count)
    {
        var sb = EraSuperblock.Unpack(md.Transactions.Read(heldRoot, BlockKind.Superblock));
        if ((ulong)first + (ulong)count > sb.NrBlocks)
            throw new ArgumentOutOfRangeException(nameof(count), $"blocks [{first}, +{count}) are outside the snapshot's {sb.NrBlocks} blocks");
        return ErasOf(md.Transactions, sb.EraArrayRoot, sb.WritesetTreeRoot, sb.NrBlocks, first, count);
    }

    private static uint[] ErasOf(TransactionManager tm, long eraArrayRoot, long writesetTreeRoot, uint nrBlocks, uint first, int count)
    {
        var eras = new uint[count];
        if (count == 0) return eras;
        var end = first + (uint)count;   // exclusive; the caller checked end <= NrBlocks

        var array = new PersistentArray(tm, 4);
        var per = (uint)array.EntriesPerBlock;
        for (var blockIndex = first / per; blockIndex * per < end; blockIndex++)
        {
            var values = array.ReadBlock(eraArrayRoot, blockIndex, out _);
            var from = Math.Max(first, blockIndex * per);
            var to = Math.Min(end, blockIndex * per + (uint)(values.Length / 4));
            for (var b = from; b < to; b++)
                eras[b - first] = BinaryPrimitives.ReadUInt32LittleEndian(values[(int)((b - blockIndex * per) * 4)..]);
        }

        var archived = new List<(uint Era, WritesetRoot Writeset)>();
        new Btree(tm, new PlainValue(WritesetRoot.Size)).Walk(writesetTreeRoot,
            (key, value) => archived.Add(((uint)key, WritesetRoot.Unpack(value))));
        var bitset = new PersistentBitset(tm);
        var bitsPerBlock = (uint)bitset.BitsPerBlock;
        foreach (var (era, ws) in archived)
        {
            var limit = Math.Min(Math.Min(ws.NrBits, nrBlocks), end);   // clamp as the digest does
            for (var blockIndex = first / bitsPerBlock; blockIndex * bitsPerBlock < limit; blockIndex++)
            {
                var words = bitset.ReadWords(ws.Root, blockIndex);
                var from = Math.Max(first, blockIndex * bitsPerBlock);
                var to = Math.Min(limit, blockIndex * bitsPerBlock + (uint)(words.Length * 8));
                for (var b = from; b < to; b++)
                {
                    var bit = b - blockIndex * bitsPerBlock;
                    var word = BinaryPrimitives.ReadUInt64LittleEndian(words[(int)(bit / 64 * 8)..]);
                    if ((word >> (int)(bit % 64) & 1) != 0 && era > eras[b - first]) eras[b - first] = era;
                }
            }
        }
        return eras;
    }
}
