using DmEra.Metadata.Era.Xml;

namespace DmEra.Metadata.Tests.Interop;

/// <summary>
/// Seeded random era metadata that era_restore 0.9.0 accepts and era_check passes, described by a
/// handful of numbers: every bit and era value is a pure function of (seed, block), so metadata of
/// 2^24 blocks is generated, written and predicted in constant memory. The same description yields
/// the XML to restore and the exact XML era_dump must print back (plain and <c>--logical</c>), and
/// the block set era_invalidate must report.
/// </summary>
public sealed class RandomEraMetadataXml
{
    private static readonly uint[] BlockSizes = [8, 16, 64, 128, 1024, 2048, 24, 40, 1000, 100, 129, 1, 7, 65536];
    private static readonly uint[] InterestingBlockCounts = [1, 2, 63, 64, 65, 127, 1017, 1018, 1019, 32576, 32577];

    private RandomEraMetadataXml(int seed, uint blockSize, uint nrBlocks, uint currentEra,
        IReadOnlyList<WritesetShape> writesets, EraArrayPattern eraPattern, double zeroEraProbability,
        uint eraRunLength, bool elideZeroEras, bool writeFalseBits)
    {
        Seed = seed;
        BlockSize = blockSize;
        NrBlocks = nrBlocks;
        CurrentEra = currentEra;
        Writesets = writesets;
        EraPattern = eraPattern;
        ZeroEraProbability = zeroEraProbability;
        EraRunLength = eraRunLength;
        ElideZeroEras = elideZeroEras;
        WriteFalseBits = writeFalseBits;
    }

    public int Seed { get; }
    public uint BlockSize { get; }
    public uint NrBlocks { get; }
    public uint CurrentEra { get; }
    /// <summary>Ascending eras, all ≤ <see cref="CurrentEra"/>.</summary>
    public IReadOnlyList<WritesetShape> Writesets { get; }
    public EraArrayPattern EraPattern { get; }
    public double ZeroEraProbability { get; }
    public uint EraRunLength { get; }
    /// <summary>The restore input leaves out <c>&lt;era&gt;</c> elements whose era is 0 (the default).</summary>
    public bool ElideZeroEras { get; }
    /// <summary>The restore input also carries some <c>value="false"</c> bits (no-ops for era_restore).</summary>
    public bool WriteFalseBits { get; }

    /// <summary>A random shape; <paramref name="nrBlocks"/> fixes the size, else one is drawn (mostly small, some edge sizes).</summary>
    public static RandomEraMetadataXml Create(int seed, uint? nrBlocks = null)
    {
        var random = new Random(seed);
        var blocks = nrBlocks ?? random.Next(4) switch
        {
            0 => InterestingBlockCounts[random.Next(InterestingBlockCounts.Length)],
            1 => (uint)random.Next(1, 200),
            2 => (uint)random.Next(1, 5_000),
            _ => (uint)random.Next(1, 70_000),
        };
        if (blocks == 0) throw new ArgumentOutOfRangeException(nameof(nrBlocks), "era metadata tracks at least one block");

        var currentEra = random.Next(8) switch
        {
            0 => 0u,
            1 => (uint)random.Next(1, 6),
            2 => uint.MaxValue - (uint)random.Next(0, 3), // widest numbers the format can hold
            _ => (uint)random.Next(1, 100_000),
        };

        var writesets = DrawWritesets(random, blocks, currentEra);
        var pattern = (EraArrayPattern)random.Next(3);
        return new RandomEraMetadataXml(seed, BlockSizes[random.Next(BlockSizes.Length)], blocks, currentEra, writesets,
            pattern, zeroEraProbability: random.NextDouble(), eraRunLength: (uint)random.Next(1, 300),
            elideZeroEras: random.Next(2) == 0, writeFalseBits: random.Next(3) == 0);
    }

    private static List<WritesetShape> DrawWritesets(Random random, uint nrBlocks, uint currentEra)
    {
        var count = (int)Math.Min((ulong)random.Next(0, 6), (ulong)currentEra + 1);
        var eras = new SortedSet<uint>();
        switch (random.Next(3))
        {
            case 0: // archived eras just before the current one: what a running device leaves
                for (var i = 1; i <= count && i <= currentEra; i++) eras.Add(currentEra - (uint)i);
                break;
            case 1: // ending at the current era, as a dump of a crashed device's current writeset reads
                for (var i = 0; i < count; i++) eras.Add(currentEra - (uint)i);
                break;
            default: // anything ≤ current era
                while (eras.Count < count) eras.Add((uint)random.NextInt64(0, (long)currentEra + 1));
                break;
        }

        var writesets = new List<WritesetShape>();
        foreach (var era in eras)
        {
            var nrBits = random.Next(10) switch
            {
                0 => (uint)Math.Min(uint.MaxValue, (ulong)nrBlocks + (ulong)random.Next(1, 200)),
                1 => (uint)Math.Max(1, (long)nrBlocks - random.Next(1, 200)),
                _ => nrBlocks,
            };
            var density = (WritesetDensity)random.Next(5);
            var probability = density switch
            {
                WritesetDensity.Sparse => random.NextDouble() * 0.02,
                WritesetDensity.Runs => 0.1 + random.NextDouble() * 0.4,
                WritesetDensity.Dense => 0.8 + random.NextDouble() * 0.199,
                _ => 0,
            };
            writesets.Add(new WritesetShape(era, nrBits, density, probability, (uint)random.Next(2, 500)));
        }
        return writesets;
    }

    /// <summary>Whether writeset <paramref name="index"/> marks <paramref name="block"/> (false past its nr_bits).</summary>
    public bool IsMarked(int index, uint block)
    {
        var ws = Writesets[index];
        if (block >= ws.NrBits) return false;
        return ws.Density switch
        {
            WritesetDensity.Empty => false,
            WritesetDensity.Full => true,
            WritesetDensity.Runs => Uniform(index + 1, (block + (ulong)ws.RunLength / 2) / ws.RunLength) < ws.Probability,
            _ => Uniform(index + 1, block) < ws.Probability,
        };
    }

    /// <summary>The era array value of <paramref name="block"/>: 0, or 1..current_era.</summary>
    public uint EraOf(uint block)
    {
        if (EraPattern == EraArrayPattern.AllZero || CurrentEra == 0) return 0;
        var key = EraPattern == EraArrayPattern.Runs ? block / EraRunLength : block;
        if (Uniform(0, key) < ZeroEraProbability) return 0;
        return (uint)(1 + Hash(100, key) % CurrentEra);
    }

    /// <summary>
    /// What C++ era_dump 0.9.0 <c>--logical</c> prints for <paramref name="block"/>: the era array value,
    /// unless the <em>oldest</em> writeset marking the block has a greater era. (0.9.0 collects writeset
    /// eras with <c>std::map::insert</c>, which keeps the first, i.e. lowest, era; a later writeset
    /// marking the same block does not replace it.)
    /// </summary>
    public uint LogicalEraOf(uint block)
    {
        var era = EraOf(block);
        for (var i = 0; i < Writesets.Count; i++)
        {
            if (!IsMarked(i, block)) continue;
            return Writesets[i].Era > era ? Writesets[i].Era : era;
        }
        return era;
    }

    /// <summary>
    /// What a block's era really is, and what <c>dmera dump --logical</c> prints: the newest of the era
    /// array value and the eras of the writesets marking it (the kernel's meaning, and the Rust tools').
    /// </summary>
    public uint NewestEraOf(uint block)
    {
        var era = EraOf(block);
        for (var i = 0; i < Writesets.Count; i++)
            if (IsMarked(i, block) && Writesets[i].Era > era) era = Writesets[i].Era;
        return era;
    }

    /// <summary>True when C++ 0.9.0's oldest-writeset-wins fold gives another answer than the newest era.</summary>
    public bool CxxLogicalDumpDiffers()
    {
        for (uint b = 0; b < NrBlocks; b++)
            if (LogicalEraOf(b) != NewestEraOf(b)) return true;
        return false;
    }

    /// <summary>The events of <c>dmera dump --logical</c>.</summary>
    public void EmitNewestLogicalDump(IEraMetadataVisitor visitor)
    {
        visitor.SuperblockBegin("", BlockSize, NrBlocks, CurrentEra);
        visitor.EraArrayBegin();
        for (uint b = 0; b < NrBlocks; b++) visitor.Era(b, NewestEraOf(b));
        visitor.EraArrayEnd();
        visitor.SuperblockEnd();
    }

    public void WriteNewestLogicalDump(string path) => WriteXml(path, EmitNewestLogicalDump);

    /// <summary>The XML to feed era_restore: only set bits (plus some no-op false ones), maybe no zero eras.</summary>
    public void EmitRestoreInput(IEraMetadataVisitor visitor)
    {
        visitor.SuperblockBegin("", BlockSize, NrBlocks, CurrentEra);
        for (var i = 0; i < Writesets.Count; i++)
        {
            var ws = Writesets[i];
            visitor.WritesetBegin(ws.Era, ws.NrBits);
            for (uint b = 0; b < ws.NrBits; b++)
            {
                if (IsMarked(i, b)) visitor.WritesetBit(b, true);
                else if (WriteFalseBits && Uniform(50 + i, b) < 0.01) visitor.WritesetBit(b, false);
            }
            visitor.WritesetEnd();
        }
        visitor.EraArrayBegin();
        for (uint b = 0; b < NrBlocks; b++)
        {
            var era = EraOf(b);
            if (era != 0 || !ElideZeroEras) visitor.Era(b, era);
        }
        visitor.EraArrayEnd();
        visitor.SuperblockEnd();
    }

    /// <summary>The events of C++ era_dump's plain output for this metadata: every bit, every era.</summary>
    public void EmitExpectedDump(IEraMetadataVisitor visitor)
    {
        visitor.SuperblockBegin("", BlockSize, NrBlocks, CurrentEra);
        for (var i = 0; i < Writesets.Count; i++)
        {
            visitor.WritesetBegin(Writesets[i].Era, Writesets[i].NrBits);
            for (uint b = 0; b < Writesets[i].NrBits; b++) visitor.WritesetBit(b, IsMarked(i, b));
            visitor.WritesetEnd();
        }
        visitor.EraArrayBegin();
        for (uint b = 0; b < NrBlocks; b++) visitor.Era(b, EraOf(b));
        visitor.EraArrayEnd();
        visitor.SuperblockEnd();
    }

    /// <summary>The events of C++ era_dump <c>--logical</c>: no writesets, folded eras.</summary>
    public void EmitExpectedLogicalDump(IEraMetadataVisitor visitor)
    {
        visitor.SuperblockBegin("", BlockSize, NrBlocks, CurrentEra);
        visitor.EraArrayBegin();
        for (uint b = 0; b < NrBlocks; b++) visitor.Era(b, LogicalEraOf(b));
        visitor.EraArrayEnd();
        visitor.SuperblockEnd();
    }

    /// <summary>
    /// What era_invalidate --written-since <paramref name="era"/> lists: blocks whose era array value is
    /// ≥ era, or that a writeset of era ≥ era marks, including writeset bits past nr_blocks (0.9.0
    /// lists those too). Ascending, merged runs.
    /// </summary>
    public IEnumerable<BlockRange> ExpectedInvalidated(uint era)
    {
        var limit = Writesets.Aggregate((ulong)NrBlocks, (max, ws) => Math.Max(max, ws.NrBits));
        long runBegin = -1;
        for (ulong b = 0; b < limit; b++)
        {
            var block = (uint)b;
            var hit = (block < NrBlocks && EraOf(block) >= era)
                      || Enumerable.Range(0, Writesets.Count).Any(i => Writesets[i].Era >= era && IsMarked(i, block));
            if (hit && runBegin < 0) runBegin = block;
            if (!hit && runBegin >= 0)
            {
                yield return new BlockRange(runBegin, block);
                runBegin = -1;
            }
        }
        if (runBegin >= 0) yield return new BlockRange(runBegin, (long)limit);
    }

    /// <summary>Writes the restore input to <paramref name="path"/>, streaming.</summary>
    public void WriteRestoreInput(string path) => WriteXml(path, EmitRestoreInput);

    /// <summary>Writes what era_dump (plain, or <c>--logical</c>) must print to <paramref name="path"/>.</summary>
    public void WriteExpectedDump(string path, bool logical) =>
        WriteXml(path, logical ? EmitExpectedLogicalDump : EmitExpectedDump);

    private static void WriteXml(string path, Action<IEraMetadataVisitor> emit)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        using var text = EraXmlWriter.CreateStreamWriter(file);
        emit(new EraXmlWriter(text));
    }

    /// <summary>For test failure messages: enough to reproduce and to see what was special.</summary>
    public override string ToString() =>
        $"seed {Seed}: block_size {BlockSize}, nr_blocks {NrBlocks}, current_era {CurrentEra}, era array {EraPattern}" +
        $" (zero p {ZeroEraProbability:0.00}, run {EraRunLength}, elide zeros {ElideZeroEras}), false bits {WriteFalseBits}, writesets [" +
        string.Join(", ", Writesets.Select(w => $"era {w.Era} nr_bits {w.NrBits} {w.Density} p {w.Probability:0.000} run {w.RunLength}")) + "]";

    private double Uniform(long stream, ulong key) => (Hash(stream, key) >> 11) * (1.0 / (1UL << 53));

    /// <summary>SplitMix64 finaliser over (seed, stream, key): cheap, stateless, well mixed.</summary>
    private ulong Hash(long stream, ulong key)
    {
        var z = key * 0x9E3779B97F4A7C15UL ^ (ulong)stream * 0xD1B54A32D192ED03UL ^ (ulong)(uint)Seed * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
