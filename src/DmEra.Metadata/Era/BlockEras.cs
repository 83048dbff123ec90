using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Era;

/// <summary>The eras of consecutive blocks from <paramref name="firstBlock"/> (one run per call).</summary>
public delegate void BlockErasVisitor(uint firstBlock, ReadOnlySpan<uint> eras);

/// <summary>
/// "In which era was block b last written?" — the one answer behind NBD block status, <c>dump --logical</c>
/// and <c>invalidate</c>: the newest of the block's era-array value and the era of every given writeset that
/// marks it (era_dump --logical's fold). "Written since era N" is then <c>era ≥ N</c>, era_invalidate's
/// inclusive rule. Blocks past the end of the array read era 0 from it: a writeset recorded before the
/// origin shrank may reach past nr_blocks, and era_invalidate lists those blocks too.
/// </summary>
public static class BlockEras
{
    /// <summary>
    /// Visits the eras of blocks [<paramref name="begin"/>, <paramref name="end"/>) in ascending runs of
    /// at most one array block. Reads only the array blocks of the range; writesets are tested bit by bit.
    /// </summary>
    public static void Visit(EraArray array, long arrayRoot, IReadOnlyList<Writeset> writesets,
        uint begin, uint end, BlockErasVisitor visit)
    {
        if (begin >= end) return;
        var per = (uint)array.EntriesPerBlock;
        var eras = new uint[per];
        var next = begin;
        array.Values.Walk(arrayRoot, begin / per, (uint)((end - 1L) / per + 1), (blockIndex, values) =>
        {
            var first = blockIndex * per;
            if (first > next) Unrecorded(next, first);
            var from = Math.Max(first, begin);
            var to = (uint)Math.Min(end, first + (long)EraArray.Count(values));
            if (from >= to) return;
            for (var b = from; b < to; b++) eras[b - from] = EraArray.EraAt(values, (int)(b - first));
            Emit(from, to);
        });
        if (next < end) Unrecorded(next, end);

        // Blocks the array does not hold: era 0 before the writesets' fold.
        void Unrecorded(uint from, uint to)
        {
            for (var start = from; start < to; start = (uint)Math.Min(to, (long)start + per))
            {
                var stop = (uint)Math.Min(to, (long)start + per);
                Array.Clear(eras, 0, (int)(stop - start));
                Emit(start, stop);
            }
        }

        void Emit(uint from, uint to)
        {
            var run = eras.AsSpan(0, (int)(to - from));
            foreach (var ws in writesets)
            {
                var limit = Math.Min(to, ws.NrBits);
                for (var b = from; b < limit; b++)
                    if (ws.Era > run[(int)(b - from)] && ws.Test(b)) run[(int)(b - from)] = ws.Era;
            }
            visit(from, run);
            next = to;
        }
    }
}
