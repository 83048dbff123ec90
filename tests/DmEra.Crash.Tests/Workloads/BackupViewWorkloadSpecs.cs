using DmEra.Crash.Tests.Oracles;
using DmEra.Crash.Tests.Recording;
using DmEra.Engine.Backup;
using Xunit.Abstractions;

namespace DmEra.Crash.Tests.Workloads;

/// <summary>
/// The first-write path with a backup view held: the old contents of a 4 KiB chunk are saved before any write,
/// trim or zeroing reaches it on the origin (checked live at every origin submit), the view reads the
/// instant exactly while up to eight requests, bursts on one block and checkpoints race it, and every crash state of the
/// recording keeps the tracking promise. The saved copy itself is not made durable and need not be: a
/// view does not survive a crash (the next start drops its snapshot), so no crash state depends on it.
/// </summary>
public sealed class BackupViewWorkloadSpecs(ITestOutputHelper output) : CrashSpec(output)
{
    private const long Block = 4096;   // the offsets' unit; tracking blocks are 16 KiB, four 4 KiB chunks each

    public static IEnumerable<object[]> Seeds() =>
        (LongMode ? Enumerable.Range(0, 20) : Enumerable.Range(0, 2)).Select(i => new object[] { 9300 + i });

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task With_a_view_held_old_contents_are_saved_before_the_origin_write_and_the_promise_holds(int seed)
    {
        var store = Path.Combine(Path.GetTempPath(), $"dmera-crash-view-{Guid.NewGuid():N}");
        var problems = new List<string>();
        try
        {
            var report = await Bounded(RecordAndCheckAsync($"view-{seed}", new RigOptions(OriginBytes: 32 * Block, MetadataBlocks: 96, BlockSizeSectors: 32, Seed: seed, Latency: true),
                rig => Workload(rig, seed, store, problems),
                new CheckOptions
                {
                    Enumeration = new(CapPerPoint: LongMode ? 32 : 4, ExhaustiveUpTo: LongMode ? 5 : 2, RandomSamples: LongMode ? 8 : 2, Seed: seed),
                    EraCheckEvery = 100,
                }));
            Assert.True(problems.Count == 0, string.Join("\n", problems.Take(20)));
            AssertNoViolations(report);
        }
        finally
        {
            File.Delete(store);
        }
    }

    private static async Task Workload(CrashRig rig, int seed, string store, List<string> problems)
    {
        var rng = new Random(seed);
        await Mixed(rig, rng, 30, null, problems);
        var view = await rig.TakeBackupSnapAsync(store) ?? throw new InvalidOperationException("take_backup_snap failed");
        var size = rig.Origin.SizeBytes;
        var instant = rig.Origin.Image()[..(int)size];
        rig.Origin.BeforeModify = (offset, length) =>
        {
            if (view.BrokenReason is not null || rig.Volume.BackupView != view) return;
            for (var c = offset / BackupView.ChunkBytes; c * BackupView.ChunkBytes < offset + length; c++)
                if (!view.AreAllSaved(c * BackupView.ChunkBytes, 1))
                    lock (problems) problems.Add($"origin modified at chunk {c} before its old contents were saved");
        };
        await Mixed(rig, rng, 90, (view, instant), problems);
        var all = new byte[size];
        await view.ReadAsync(0, all);
        if (!all.AsSpan().SequenceEqual(instant)) problems.Add("a full read of the view differs from the origin at the instant");
        if (view.BrokenReason is { } reason) problems.Add($"the view broke: {reason}");
        rig.Origin.BeforeModify = null;
        await rig.DropBackupSnapAsync();
        await Mixed(rig, rng, 20, null, problems);
        await rig.FlushAsync();
    }

    /// <summary>Writes, trims, zeroings, checkpoints and (while a view is held) reads of the view, up to eight at once.</summary>
    private static async Task Mixed(CrashRig rig, Random rng, int operations, (BackupView View, byte[] Instant)? held, List<string> problems)
    {
        var inFlight = new List<Task>();
        var size = rig.Origin.SizeBytes;
        for (var n = 0; n < operations; n++)
        {
            while (inFlight.Count >= 8) inFlight.Remove(await Task.WhenAny(inFlight));
            var length = rng.Next(4) switch { 0 => 1, 1 => 512, 2 => 4096, _ => 8193 };
            var offset = Math.Max(0, Math.Min(size - length, rng.Next((int)(size / Block)) * Block + (rng.Next(2) == 0 ? 0 : Block - 1)));
            var roll = rng.Next(100);
            inFlight.Add(roll switch
            {
                < 55 => rig.WriteAsync(offset, length, fua: rng.Next(10) == 0),
                < 62 => rig.TrimAsync(offset, length),
                < 69 => rig.WriteZeroesAsync(offset, length),
                < 76 => rig.FlushAsync(),
                < 84 => rig.CheckpointAsync(),
                < 92 => HotBlockBurst(rig, rng.Next((int)(size / Block)) * Block, rng),
                _ when held is { } h => ReadView(h.View, h.Instant, offset, length, problems),
                _ => rig.WriteAsync(offset, length),
            });
        }
        await Task.WhenAll(inFlight);
    }

    /// <summary>Several sub-block writes to one block at once: the first saves and marks it, the others race that.</summary>
    private static Task HotBlockBurst(CrashRig rig, long blockStart, Random rng) =>
        Task.WhenAll(Enumerable.Range(0, 2 + rng.Next(4)).Select(_ => rig.WriteAsync(blockStart + 512 * rng.Next(8), 512)));

    private static async Task<bool> ReadView(BackupView view, byte[] instant, long offset, int length, List<string> problems)
    {
        var buffer = new byte[length];
        await view.ReadAsync(offset, buffer);
        if (!buffer.AsSpan().SequenceEqual(instant.AsSpan((int)offset, length)))
            lock (problems) problems.Add($"a view read at {offset} (+{length}) racing the writes saw data from after the instant");
        return true;
    }
}
