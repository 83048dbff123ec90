namespace DmEra.Crash.Tests.Enumeration;

/// <summary>What the crash does to one pending write.</summary>
public enum AtomFate : byte
{
    Drop,
    Apply,
    /// <summary>Only the first half of its sectors reach the device (ALICE's split-one).</summary>
    TornHalf,
    /// <summary>A seeded random subset of its sectors reach the device.</summary>
    TornRandom,
}

/// <summary>
/// One legal post-crash state of a crash point: a fate for every pending write (metadata first, then
/// origin, each in submit order) and, for random samples, the seed that decides torn sectors and the
/// order overlapping writes land in. Printed in full on failure so the state replays from the trace.
/// </summary>
public sealed record CrashState(string Family, AtomFate[] Fates, int Seed, bool Shuffled)
{
    public string Key => $"{string.Concat(Fates.Select(f => (char)('0' + (int)f)))}/{(Fates.Any(f => f == AtomFate.TornRandom) || Shuffled ? Seed : 0)}/{Shuffled}";

    public override string ToString() => $"{Family} fates={string.Concat(Fates.Select(f => "DATH"[(int)f]))} seed={Seed}{(Shuffled ? " shuffled" : "")}";

    /// <summary>Deterministic per-sector coin for torn writes: the same seed tears the same sectors.</summary>
    public bool KeepsSector(int atom, int sector, int sectorCount) => Fates[atom] switch
    {
        AtomFate.Apply => true,
        AtomFate.TornHalf => sector < Math.Max(1, sectorCount / 2),
        AtomFate.TornRandom => (Mix(Seed, atom, sector) & 1) == 0,
        _ => false,
    };

    public static uint Mix(int a, int b, int c)
    {
        var h = (uint)a * 0x9E3779B1u ^ (uint)b * 0x85EBCA77u ^ (uint)c * 0xC2B2AE3Du;
        h ^= h >> 15; h *= 0x2C1B3C6Du; h ^= h >> 12; h *= 0x297A2D39u; h ^= h >> 15;
        return h;
    }
}
