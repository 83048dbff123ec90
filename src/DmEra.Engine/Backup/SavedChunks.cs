using System.Numerics;

namespace DmEra.Engine.Backup;

/// <summary>
/// Which chunks of a view's origin have their old contents in the saved copy, and in which slot. Both are read
/// lock-free: the bitmap by the write path (a write asks whether the chunks it covers are saved on every request
/// while a view is held), so it is sparse pages published once and bits only ever set, and bits and slots by the
/// view's readers, which run in the idle scheduling class and must hold nothing a write waits for. The view
/// changes them under its own lock, a chunk's slot before its bit. A page appears only when a chunk in it is first saved, so a view over a huge volume
/// costs memory for what was overwritten, not for its size. Slots are kept by bitmap word (64 chunks, 256 KiB of
/// origin): one array of 64 when the first chunk of the word is saved, not a dictionary entry per chunk, which on
/// the path of every first write cost a hash insert and an object each (bench/results/view-2026-12-03i.md).
/// </summary>
internal sealed class SavedChunks
{
    private const int PageShift = 15;   // 32768 chunks a page: 4 KiB of bits for 128 MiB of origin
    private const long PageMask = (1L << PageShift) - 1;
    private readonly ulong[]?[] _pages;
    private readonly long[]?[]?[] _slots;   // by page, then by bitmap word: a chunk's slot, published before its bit

    public SavedChunks(long chunks)
    {
        _pages = new ulong[]?[(chunks + PageMask) >> PageShift];
        _slots = new long[]?[]?[_pages.Length];
    }

    public bool Contains(long chunk)
    {
        var page = Volatile.Read(ref _pages[chunk >> PageShift]);
        return page is not null && (Volatile.Read(ref page[(chunk & PageMask) >> 6]) >> (int)(chunk & 63) & 1) != 0;
    }

    /// <summary>Whether every chunk of [first, last] is saved: a bitmap word at a time.</summary>
    public bool ContainsAll(long first, long last)
    {
        for (var c = first; c <= last; c = (c | 63) + 1)
        {
            var page = Volatile.Read(ref _pages[c >> PageShift]);
            if (page is null) return false;
            var lo = (int)(c & 63);
            var hi = (int)Math.Min(63, lo + (last - c));
            var mask = (hi == 63 ? ulong.MaxValue : (1UL << (hi + 1)) - 1) & (ulong.MaxValue << lo);
            if ((Volatile.Read(ref page[(c & PageMask) >> 6]) & mask) != mask) return false;
        }
        return true;
    }

    /// <summary>The first chunk in [first, end) that is saved (<paramref name="saved"/>) or not, or end.</summary>
    public long Next(long first, long end, bool saved)
    {
        var c = first;
        while (c < end)
        {
            var page = Volatile.Read(ref _pages[c >> PageShift]);
            if (page is null)
            {
                if (!saved) return c;
                c = ((c >> PageShift) + 1) << PageShift;   // a page never touched: nothing saved in it
                continue;
            }
            var word = Volatile.Read(ref page[(c & PageMask) >> 6]);
            if (!saved) word = ~word;
            word >>= (int)(c & 63);
            if (word != 0) return Math.Min(end, c + BitOperations.TrailingZeroCount(word));
            c = (c | 63) + 1;
        }
        return end;
    }

    /// <summary>The slot of a saved chunk (its bit seen set); lock-free.</summary>
    public long SlotOf(long chunk) =>
        Volatile.Read(ref Volatile.Read(ref _slots[chunk >> PageShift])![(chunk & PageMask) >> 6])![chunk & 63];

    /// <summary>Records chunks [first, last] saved in slots from <paramref name="slot"/> on. Under the view's lock.</summary>
    public void Add(long first, long last, long slot)
    {
        for (var c = first; c <= last; c++)
        {
            ref var wordsRef = ref _slots[c >> PageShift];
            var words = wordsRef;
            if (words is null)
            {
                words = new long[]?[1 << (PageShift - 6)];
                Volatile.Write(ref wordsRef, words);
            }
            ref var slotsRef = ref words[(c & PageMask) >> 6];
            var slots = slotsRef;
            if (slots is null)
            {
                slots = new long[64];
                Volatile.Write(ref slotsRef, slots);
            }
            slots[c & 63] = slot + (c - first);   // the bit's Volatile.Write below publishes it
            ref var pageRef = ref _pages[c >> PageShift];
            var page = pageRef;
            if (page is null)
            {
                page = new ulong[1 << (PageShift - 6)];
                Volatile.Write(ref pageRef, page);
            }
            ref var word = ref page[(c & PageMask) >> 6];
            Volatile.Write(ref word, word | 1UL << (int)(c & 63));
        }
    }
}
