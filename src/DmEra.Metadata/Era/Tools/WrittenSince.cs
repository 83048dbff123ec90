using System.Buffers.Binary;

namespace DmEra.Metadata.Era.Tools;

/// <summary>
/// era_invalidate's question: which blocks may have changed since era E. A block qualifies when its
/// era-array value is ≥ E or an archived writeset of era ≥ E marks it (inclusive of E, as the tools).
/// The answer streams out as ascending half-open runs [begin, end). The current writeset is not
/// consulted (as in the tools): take a metadata snapshot, which archives it, before asking.
/// </summary>
public static class WrittenSince
{
    public static void Find(EraMetadataReader reader, uint sinceEra, Action<uint, uint> run)
    {
        var cursors = reader.Writesets()
            .Where(w => w.Era >= sinceEra)
            .Select(w => reader.OpenBitset(w.Writeset))
            .ToArray();
        // A writeset recorded before the origin shrank may reach past nr_blocks; era_invalidate lists
        // those blocks too, and so do we (the same block set).
        var limit = cursors.Aggregate((long)reader.NrBlocks, (max, c) => Math.Max(max, c.NrBits));
        var runStart = -1L;
        long next = 0;
        reader.WalkEraArray((blockIndex, values) =>
        {
            var first = blockIndex * (uint)reader.EraArrayEntriesPerBlock;
            var n = values.Length / 4;
            for (var i = 0; i < n; i++)
            {
                var block = first + (uint)i;
                var changed = BinaryPrimitives.ReadUInt32LittleEndian(values[(4 * i)..]) >= sinceEra;
                for (var c = 0; !changed && c < cursors.Length; c++) changed = cursors[c].Test(block);
                if (changed && runStart < 0) runStart = block;
                else if (!changed && runStart >= 0)
                {
                    run((uint)runStart, block);
                    runStart = -1;
                }
            }
            next = first + (uint)n;
        });
        for (var block = next; block < limit; block++)
        {
            var changed = false;
            for (var c = 0; !changed && c < cursors.Length; c++) changed = cursors[c].Test((uint)block);
            if (changed && runStart < 0) runStart = block;
            else if (!changed && runStart >= 0)
            {
                run((uint)runStart, (uint)block);
                runStart = -1;
            }
        }
        if (runStart >= 0) run((uint)runStart, (uint)Math.Max(next, limit));
    }
}
