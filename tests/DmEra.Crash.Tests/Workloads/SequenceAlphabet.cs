using DmEra.Crash.Tests.Recording;

namespace DmEra.Crash.Tests.Workloads;

/// <summary>
/// The alphabet of the bounded exhaustive sequences (CrashMonkey's ACE B3 idea): every request kind the
/// volume serves, with the offsets that break naive block mapping (block start, a range straddling three
/// blocks, one byte at the partial last block, a sub-block FUA write).
/// </summary>
public static class SequenceAlphabet
{
    public const long Block = 4096;
    /// <summary>15 whole blocks and a partial last one: tracking must cover the tail.</summary>
    public const long OriginBytes = 16 * Block - 1024;
    public const long Capacity = 64 * Block;

    public sealed record Op(string Name, Func<CrashRig, Task> Run);

    public static readonly Op[] All =
    [
        new("write", r => r.WriteAsync(1 * Block, 4096)),
        new("write-straddle", r => r.WriteAsync(2 * Block + 4095, 4098)),
        new("write-fua", r => r.WriteAsync(1 * Block + 512, 512, fua: true)),
        new("write-tail", r => r.WriteAsync(r.Origin.SizeBytes - 1, 1)),
        new("flush", r => r.FlushAsync()),
        new("trim", r => r.TrimAsync(1 * Block, 4096)),
        new("write-zeroes", r => r.WriteZeroesAsync(5 * Block, 8192)),
        new("checkpoint", r => r.CheckpointAsync()),
        new("take-snap", r => r.TakeMetadataSnapAsync()),
        new("drop-snap", r => r.DropMetadataSnapAsync()),
        new("reopen", r => r.ReopenAsync()),
        new("resize", r => r.ResizeAsync(r.Origin.SizeBytes + 2 * Block)),
    ];

    /// <summary>Every sequence of exactly <paramref name="length"/> ops, as alphabet indices.</summary>
    public static IEnumerable<int[]> Sequences(int length)
    {
        var total = (int)Math.Pow(All.Length, length);
        for (var n = 0; n < total; n++)
        {
            var seq = new int[length];
            for (int i = length - 1, x = n; i >= 0; i--, x /= All.Length) seq[i] = x % All.Length;
            yield return seq;
        }
    }

    public static string Name(int[] seq) => string.Join(",", seq.Select(i => All[i].Name));

    /// <summary>A workload: something written and flushed before (so there is tracking to lose), then the sequence.</summary>
    public static Func<CrashRig, Task> Workload(int[] seq) => async rig =>
    {
        await rig.WriteAsync(0, 4096);
        await rig.FlushAsync();
        foreach (var i in seq) await All[i].Run(rig);
    };
}
