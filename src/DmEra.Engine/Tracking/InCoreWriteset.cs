namespace DmEra.Engine.Tracking;

/// <summary>
/// The in-core bits of one era's writeset (the kernel's writeset.bits). Read lock-free by any thread through
/// <see cref="AreAllMarked"/>; written only by the metadata writer, and only for blocks whose on-disk bit a
/// finished commit has made durable (kernel fix 2099b145). A set bit therefore always means "durable".
/// </summary>
public sealed class InCoreWriteset
{
    private readonly ulong[] _words;

    public InCoreWriteset(uint nrBlocks)
    {
        NrBlocks = nrBlocks;
        _words = new ulong[((ulong)nrBlocks + 63) / 64];
    }

    public uint NrBlocks { get; }

    public bool IsMarked(uint block) => (Volatile.Read(ref _words[block >> 6]) >> (int)(block & 63) & 1) != 0;

    /// <summary>Whether every block of [first, last] is marked: whole words at a time for long ranges.</summary>
    public bool AreAllMarked(uint first, uint last)
    {
        var w = first >> 6;
        var lastWord = last >> 6;
        for (; w <= lastWord; w++)
        {
            var lo = w == first >> 6 ? (int)(first & 63) : 0;
            var hi = w == lastWord ? (int)(last & 63) : 63;
            var mask = (hi == 63 ? ulong.MaxValue : (1UL << (hi + 1)) - 1) & ~((1UL << lo) - 1);
            if ((Volatile.Read(ref _words[w]) & mask) != mask) return false;
        }
        return true;
    }

    /// <summary>Writer only, after the commit that made the block's on-disk bit durable.</summary>
    internal void MarkDurable(uint block)
    {
        ref var word = ref _words[block >> 6];
        Volatile.Write(ref word, word | 1UL << (int)(block & 63));
    }

    /// <summary>Writer only, while this set is the spare (no request reads it as the current era).</summary>
    internal void Clear() => Array.Clear(_words);
}
