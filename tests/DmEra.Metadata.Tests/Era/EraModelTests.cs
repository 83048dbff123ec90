using CsCheck;
using DmEra.Metadata.Era;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Tests.Era;

public sealed class EraModelTests
{
    private enum Op { Mark, Commit, Checkpoint, Digest, TakeSnap, DropSnap, Reopen, Grow }

    private static readonly Gen<(Op, uint[])> GenOp = Gen.Frequency(
        (40, Gen.UInt.Array[1, 40].Select(b => (Op.Mark, b))),
        (15, Gen.Const((Op.Commit, Array.Empty<uint>()))),
        (12, Gen.Const((Op.Checkpoint, Array.Empty<uint>()))),
        (15, Gen.UInt[1, 5000].Select(n => (Op.Digest, new[] { n }))),
        (5, Gen.Const((Op.TakeSnap, Array.Empty<uint>()))),
        (5, Gen.Const((Op.DropSnap, Array.Empty<uint>()))),
        (4, Gen.Const((Op.Reopen, Array.Empty<uint>()))),
        (4, Gen.UInt[0, 3000].Select(n => (Op.Grow, new[] { n }))));

    [Fact]
    public void Era_metadata_keeps_every_write_findable_and_passes_the_full_check_after_every_commit()
    {
        Gen.Select(Gen.UInt[1, 70_000], GenOp.Array[1, 120]).Sample((initialBlocks, ops) => Run(initialBlocks, ops), iter: 30);
    }

    private sealed class Model
    {
        public uint NrBlocks;
        public uint CurrentEra;
        public readonly Dictionary<uint, uint> ArchivedLastWrite = new();   // block → newest archived era that wrote it
        public readonly HashSet<uint> CurrentWrites = new();
        public Dictionary<uint, uint>? Snapshot;

        public void Archive()
        {
            foreach (var b in CurrentWrites) ArchivedLastWrite[b] = CurrentEra;
            CurrentWrites.Clear();
        }
    }

    private static void Run(uint initialBlocks, (Op Op, uint[] Args)[] ops)
    {
        var device = MetadataDevice.InMemory(8192);
        var md = EraMetadata.Open(device, 128);
        var model = new Model();
        md.Resize(initialBlocks);
        md.Rollover();
        md.Commit();
        model.NrBlocks = initialBlocks;
        model.CurrentEra = 1;

        foreach (var (op, args) in ops)
        {
            switch (op)
            {
                case Op.Mark when model.NrBlocks > 0:
                    var blocks = args.Select(b => b % model.NrBlocks).Order().ToArray();
                    md.MarkBlocks(blocks);
                    model.CurrentWrites.UnionWith(blocks);
                    break;
                case Op.Commit:
                    md.Commit();
                    Verify(device, md, model);
                    break;
                case Op.Checkpoint:
                    md.Rollover();
                    model.Archive();
                    model.CurrentEra++;
                    break;
                case Op.Digest:
                    md.DigestStep((int)args[0]);
                    break;
                case Op.TakeSnap when model.Snapshot is null:
                    md.TakeSnapshot();
                    md.Commit();
                    model.Archive();
                    model.CurrentEra++;
                    model.Snapshot = new Dictionary<uint, uint>(model.ArchivedLastWrite);
                    break;
                case Op.TakeSnap:
                    Assert.Throws<EraMessageException>(() => md.TakeSnapshot());
                    break;
                case Op.DropSnap when model.Snapshot is not null:
                    md.DropSnapshot();
                    md.Commit();
                    model.Snapshot = null;
                    break;
                case Op.DropSnap:
                    Assert.Throws<EraMessageException>(() => md.DropSnapshot());
                    break;
                case Op.Reopen:
                    // A clean stop and start: archive, drain digest, commit; then activation rolls over.
                    md.Archive();
                    md.DigestAll();
                    md.Commit();
                    model.Archive();
                    Verify(device, md, model);
                    md = EraMetadata.Open(device, 128);
                    Assert.Equal(model.CurrentEra, md.CurrentEra);
                    md.Rollover();
                    md.Commit();
                    model.CurrentEra++;
                    break;
                case Op.Grow:
                    var grown = Math.Min(200_000, model.NrBlocks + args[0]);
                    // Growth is picked up at activation, which resizes and then rolls over (kernel preresume).
                    md.Resize(grown);
                    md.Commit();
                    md.Rollover();
                    md.Commit();
                    model.NrBlocks = grown;
                    model.Archive();
                    model.CurrentEra++;
                    break;
            }
        }
        md.Archive();
        md.DigestAll();
        md.Commit();
        model.Archive();
        Verify(device, md, model);
        Assert.False(md.HasDigestWork);
    }

    private static void Verify(MetadataDevice device, EraMetadata md, Model model)
    {
        var report = MetadataChecker.Check(device);
        Assert.True(report.IsClean, string.Join("\n", report.Errors));
        Assert.Empty(report.Warnings);
        Assert.Equal(model.CurrentEra, md.CurrentEra);

        // The one "eras of a block range" answer, over the whole device and over ranges that start and end
        // inside array blocks (so the ranged walk must find the right ones).
        var n = model.NrBlocks;
        foreach (var (begin, end) in new[] { (0u, n), (n / 3, n - n / 3), (n / 2, n / 2 + 1), (n > 0 ? n - 1 : 0, n) })
        {
            var eras = new uint[end - begin];
            var next = begin;
            md.VisitEras(begin, end, (first, run) =>
            {
                Assert.Equal(next, first);
                run.CopyTo(eras.AsSpan((int)(first - begin)));
                next = first + (uint)run.Length;
            });
            Assert.Equal(end, next);
            for (var b = begin; b < end; b++)
                Assert.Equal(model.ArchivedLastWrite.GetValueOrDefault(b), eras[b - begin]);
        }

        var reader = EraMetadataReader.Open(device);
        foreach (var since in new uint[] { 0, 1, model.CurrentEra / 2, model.CurrentEra > 0 ? model.CurrentEra - 1 : 0, model.CurrentEra })
            Assert.Equal(Expected(model.ArchivedLastWrite, since, model.NrBlocks), Actual(reader, since));
        if (model.Snapshot is not null)
        {
            var snap = EraMetadataReader.Open(device, useMetadataSnapshot: true);
            foreach (var since in new uint[] { 1, model.CurrentEra / 2 })
                Assert.Equal(Expected(model.Snapshot, since, model.NrBlocks), Actual(snap, since));
        }
    }

    private static List<uint> Expected(Dictionary<uint, uint> lastWrite, uint since, uint nrBlocks) =>
        since == 0
            ? Enumerable.Range(0, (int)nrBlocks).Select(b => (uint)b).ToList()
            : lastWrite.Where(kv => kv.Value >= since && kv.Key < nrBlocks).Select(kv => kv.Key).Order().ToList();

    private static List<uint> Actual(EraMetadataReader reader, uint since)
    {
        var blocks = new List<uint>();
        WrittenSince.Find(reader, since, (begin, end) =>
        {
            for (var b = begin; b < end; b++) blocks.Add(b);
        });
        return blocks;
    }
}
