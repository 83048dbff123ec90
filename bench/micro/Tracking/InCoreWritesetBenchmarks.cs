using BenchmarkDotNet.Attributes;
using DmEra.Engine.Tracking;

namespace DmEra.Micro.Bench.Tracking;

/// <summary>
/// The test the I/O router makes for every write before deciding between the origin and a first-write:
/// <see cref="InCoreWriteset.AreAllMarked"/> over the request's block range (IoRouter.MarkAsync), against
/// testing each block with <see cref="InCoreWriteset.IsMarked"/> (what a bit-by-bit test would cost).
/// </summary>
[BenchmarkCategory("bitset")]
[Config(typeof(ShortConfig))]
[MemoryDiagnoser]
public class InCoreWritesetBenchmarks
{
    /// <summary>
    /// 2^24 blocks: a 64 GiB volume at 4 KiB tracking blocks, or 1 TiB at 64 KiB. Its 2 MiB of bits is larger
    /// than the L2 cache, so requests at random places pay the cache misses the router pays under random I/O.
    /// </summary>
    private const uint NrBlocks = 1 << 24;

    private const int RequestsPerInvoke = 1024;

    public enum RangeState
    {
        /// <summary>Steady state: every block already written in this era; the whole range is scanned.</summary>
        AllMarked,
        /// <summary>A fresh era: the first word tested decides.</summary>
        NoneMarked,
    }

    /// <summary>4 KiB, 64 KiB, 1 MiB and 32 MiB (NBD's largest request) at 4 KiB tracking blocks.</summary>
    [Params(1, 16, 256, 8192)]
    public int BlocksPerRequest { get; set; }

    [Params(RangeState.AllMarked, RangeState.NoneMarked)]
    public RangeState State { get; set; }

    private InCoreWriteset _bits = null!;
    private uint[] _firstBlocks = null!;

    [GlobalSetup]
    public void Setup()
    {
        _bits = new InCoreWriteset(NrBlocks);
        if (State == RangeState.AllMarked)
            for (uint b = 0; b < NrBlocks; b++) _bits.MarkDurable(b);
        // Random starts, most not word-aligned, so multi-block ranges straddle words as real requests do.
        var random = new Random(7);
        _firstBlocks = new uint[RequestsPerInvoke];
        for (var i = 0; i < _firstBlocks.Length; i++) _firstBlocks[i] = (uint)random.Next((int)(NrBlocks - BlocksPerRequest));
        var expected = State == RangeState.AllMarked ? RequestsPerInvoke : 0;
        if (AreAllMarked() != expected || IsMarkedPerBlock() != expected)
            throw new InvalidOperationException($"the bit tests disagree with the {State} writeset");
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = RequestsPerInvoke)]
    public int AreAllMarked()
    {
        var marked = 0;
        var span = (uint)BlocksPerRequest - 1;
        foreach (var first in _firstBlocks)
            if (_bits.AreAllMarked(first, first + span)) marked++;
        return marked;
    }

    [Benchmark(OperationsPerInvoke = RequestsPerInvoke)]
    public int IsMarkedPerBlock()
    {
        var marked = 0;
        var span = (uint)BlocksPerRequest - 1;
        foreach (var first in _firstBlocks)
        {
            var all = true;
            for (var b = first; b <= first + span && all; b++) all = _bits.IsMarked(b);
            if (all) marked++;
        }
        return marked;
    }
}
