namespace DmEra.Crash.Tests.Enumeration;

/// <summary>How many states to draw per crash point and how.</summary>
public sealed record StateSampling(int CapPerPoint = 48, int ExhaustiveUpTo = 6, int RandomSamples = 8, int Seed = 1);

/// <summary>
/// The states of one crash point, in priority order, deduplicated and capped: nothing and everything
/// pending; every subset when few writes are pending (exhaustive, as CrashMonkey for small k); otherwise
/// ALICE's polynomial families (prefix in submit order, omit-one, split-one = a prefix then one torn
/// write, all-but-one-torn); then seeded random samples (SQLite's "different random damage each time",
/// FoundationDB's per-sector drop) with torn sectors and shuffled landing order.
/// </summary>
public static class CrashStateEnumerator
{
    public static List<CrashState> For(CrashPoint point, StateSampling options)
    {
        var k = point.PendingCount;
        var multiSector = MultiSectorAtoms(point);
        var states = new List<CrashState>();
        var seen = new HashSet<string>();

        void Add(string family, AtomFate[] fates, int seed = 0, bool shuffled = false)
        {
            var s = new CrashState(family, fates, seed, shuffled);
            if (seen.Add(s.Key)) states.Add(s);
        }
        AtomFate[] All(AtomFate f) => Enumerable.Repeat(f, k).ToArray();

        Add("none", All(AtomFate.Drop));
        Add("all", All(AtomFate.Apply));
        var families = new List<(string, AtomFate[])>();
        if (k <= options.ExhaustiveUpTo)
        {
            for (var mask = 1; mask < (1 << k) - 1; mask++)
                families.Add(("subset", Enumerable.Range(0, k).Select(i => (mask >> i & 1) != 0 ? AtomFate.Apply : AtomFate.Drop).ToArray()));
        }
        else
        {
            var order = SubmitOrder(point);
            for (var n = 1; n < k; n++)
            {
                var f = All(AtomFate.Drop);
                for (var j = 0; j < n; j++) f[order[j]] = AtomFate.Apply;
                families.Add(("prefix", f));
            }
            for (var i = 0; i < k; i++)
            {
                var f = All(AtomFate.Apply);
                f[i] = AtomFate.Drop;
                families.Add(("omit-one", f));
            }
        }
        var submitOrder = SubmitOrder(point);
        foreach (var i in multiSector)
        {
            var split = All(AtomFate.Drop);
            foreach (var j in submitOrder)
            {
                if (j == i) { split[j] = AtomFate.TornHalf; break; }
                split[j] = AtomFate.Apply;
            }
            families.Add(("split-one", split));
            var torn = All(AtomFate.Apply);
            torn[i] = AtomFate.TornHalf;
            families.Add(("torn-one", torn));
        }

        var budget = Math.Max(0, options.CapPerPoint - states.Count - (k > 0 ? options.RandomSamples : 0));
        // Over budget: an evenly spaced selection keeps every family represented.
        var stride = families.Count <= budget || budget == 0 ? 1.0 : (double)families.Count / budget;
        for (double x = 0; x < families.Count && states.Count < options.CapPerPoint; x += stride)
            Add(families[(int)x].Item1, families[(int)x].Item2);

        var rng = new Random((int)CrashState.Mix(options.Seed, point.Index, 0x5717));
        for (var attempt = 0; k > 0 && states.Count < options.CapPerPoint && attempt < options.RandomSamples * 4; attempt++)
        {
            var f = new AtomFate[k];
            for (var i = 0; i < k; i++)
                f[i] = rng.Next(3) switch { 0 => AtomFate.Drop, 1 => AtomFate.Apply, _ => multiSector.Contains(i) ? AtomFate.TornRandom : AtomFate.Apply };
            Add("random", f, rng.Next(), shuffled: true);
        }
        return states;
    }

    /// <summary>Atom indices (metadata first, then origin) sorted by their submit sequence.</summary>
    public static int[] SubmitOrder(CrashPoint p)
    {
        var seqs = p.MetadataPending.Select(e => e.Seq).Concat(p.OriginPending.Select(o => o.Submit.Seq)).ToArray();
        return Enumerable.Range(0, seqs.Length).OrderBy(i => seqs[i]).ToArray();
    }

    /// <summary>Writes a crash can tear: non-superblock metadata blocks (the superblock's 4 KiB write is atomic by assumption) and origin ops over one sector.</summary>
    private static HashSet<int> MultiSectorAtoms(CrashPoint p)
    {
        var set = new HashSet<int>();
        for (var i = 0; i < p.MetadataPending.Count; i++)
            if (p.MetadataPending[i].Offset != 0) set.Add(i);
        for (var i = 0; i < p.OriginPending.Count; i++)
        {
            var op = p.OriginPending[i].Submit;
            if (op.Offset / 512 != (op.Offset + op.Length - 1) / 512) set.Add(p.MetadataPending.Count + i);
        }
        return set;
    }
}
