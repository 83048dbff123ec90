namespace DmEra.Metadata.Era.Tools;

/// <summary>
/// era_invalidate's question: which blocks may have changed since era E, i.e. whose era
/// (<see cref="BlockEras"/>) is ≥ E (inclusive of E, as the tools). The answer streams out as ascending
/// half-open runs [begin, end). The current writeset is not consulted (as in the tools): take a metadata
/// snapshot, which archives it, before asking.
/// </summary>
public static class WrittenSince
{
    public static void Find(EraMetadataReader reader, uint sinceEra, Action<uint, uint> run)
    {
        // Older writesets cannot lift a block to era E or later: leave their bits unread.
        var writesets = reader.Writesets().Where(w => w.Era >= sinceEra).ToList();
        // A writeset recorded before the origin shrank may reach past nr_blocks; era_invalidate lists
        // those blocks too, and so do we (the same block set).
        var limit = writesets.Aggregate(reader.NrBlocks, (max, w) => Math.Max(max, w.NrBits));
        var runStart = -1L;
        reader.VisitEras(writesets, 0, limit, (first, eras) =>
        {
            for (var i = 0; i < eras.Length; i++)
            {
                var block = first + (uint)i;
                // Past nr_blocks only a writeset's mark counts (era 0 there means "not in the array").
                var changed = block < reader.NrBlocks || sinceEra > 0
                    ? eras[i] >= sinceEra
                    : writesets.Any(w => w.Test(block));
                if (changed && runStart < 0) runStart = block;
                else if (!changed && runStart >= 0)
                {
                    run((uint)runStart, block);
                    runStart = -1;
                }
            }
        });
        if (runStart >= 0) run((uint)runStart, limit);
    }
}
