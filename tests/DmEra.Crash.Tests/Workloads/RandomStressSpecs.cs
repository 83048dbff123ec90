using DmEra.Crash.Tests.Oracles;
using DmEra.Crash.Tests.Recording;
using Xunit.Abstractions;

namespace DmEra.Crash.Tests.Workloads;

/// <summary>
/// Seeded random stress: up to 16 requests in flight with random device latency, checkpoints and
/// snapshots racing the writes, bursts of concurrent writes to one block while its commit is in flight,
/// and occasional clean reopens. The seed is printed; a failing state replays from the same trace.
/// </summary>
public sealed class RandomStressSpecs(ITestOutputHelper output) : CrashSpec(output)
{
    private const long Block = 4096;

    public static IEnumerable<object[]> Seeds() =>
        (LongMode ? Enumerable.Range(0, 50) : Enumerable.Range(0, 3)).Select(i => new object[] { 9100 + i });

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Sixteen_requests_in_flight_with_racing_checkpoints_keep_the_promise_at_every_crash_point(int seed)
    {
        var report = await Bounded(RecordAndCheckAsync($"stress-{seed}", new RigOptions(OriginBytes: 32 * Block, MetadataBlocks: 96, Seed: seed, Latency: true),
            rig => Workload(rig, seed, LongMode ? 400 : 120),
            new CheckOptions
            {
                Enumeration = new(CapPerPoint: LongMode ? 32 : 5, ExhaustiveUpTo: LongMode ? 5 : 2, RandomSamples: LongMode ? 8 : 2, Seed: seed),
                EraCheckEvery = 100,
                DoubleCrashEvery = LongMode ? 500 : 0,
            }));
        AssertNoViolations(report);
    }

    private static async Task Workload(CrashRig rig, int seed, int operations)
    {
        var rng = new Random(seed);
        var inFlight = new List<Task>();
        for (var n = 0; n < operations; n++)
        {
            while (inFlight.Count >= 16) inFlight.Remove(await Task.WhenAny(inFlight));
            var size = rig.Origin.SizeBytes;
            var roll = rng.Next(100);
            if (roll < 2)
            {
                await Task.WhenAll(inFlight);   // a clean reopen needs the volume idle, as a real restart does
                inFlight.Clear();
                await rig.ReopenAsync();
                continue;
            }
            inFlight.Add(roll switch
            {
                < 8 => HotBlockBurst(rig, rng.Next((int)(size / Block)) * Block, rng),
                < 50 => rig.WriteAsync(Offset(rng, size, out var len), len, fua: rng.Next(10) == 0),
                < 60 => rig.FlushAsync(),
                < 65 => rig.TrimAsync(Offset(rng, size, out var tl), tl),
                < 70 => rig.WriteZeroesAsync(Offset(rng, size, out var zl), zl, fua: rng.Next(4) == 0),
                < 80 => rig.CheckpointAsync(),
                < 84 => rig.TakeMetadataSnapAsync(),
                < 88 => rig.DropMetadataSnapAsync(),
                _ => rig.WriteAsync(Offset(rng, size, out var l2), l2),
            });
        }
        await Task.WhenAll(inFlight);
        await rig.FlushAsync();
    }

    /// <summary>Several sub-block writes to one block at once: all but the first find its commit in flight.</summary>
    private static Task HotBlockBurst(CrashRig rig, long blockStart, Random rng)
    {
        var count = 2 + rng.Next(4);
        var offsets = Enumerable.Range(0, count).Select(_ => blockStart + 512 * rng.Next(8)).ToList();
        return Task.WhenAll(offsets.Select(o => rig.WriteAsync(o, 512)));
    }

    /// <summary>Offsets and lengths that hit block starts, straddle blocks and end at the device's last byte.</summary>
    private static long Offset(Random rng, long size, out int length)
    {
        length = rng.Next(4) switch { 0 => 1, 1 => 512, 2 => 4096, _ => 8193 };
        var offset = rng.Next(3) switch
        {
            0 => rng.Next((int)(size / Block)) * Block,
            1 => rng.Next((int)(size / Block)) * Block + Block - 1,
            _ => size - length,
        };
        if (offset + length > size) offset = size - length;
        return Math.Max(0, offset);
    }
}
