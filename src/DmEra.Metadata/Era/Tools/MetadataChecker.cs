using System.Buffers.Binary;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Era.Tools;

/// <summary>
/// Everything era_check checks (superblock, writeset tree and every bitset, era array, eras not beyond
/// the current one) plus what it does not: the current writeset, the metadata snapshot, and the space
/// map itself, whose reference counts must equal the references actually found (a leak is a warning,
/// a count too low is damage). Read-only: it never writes to the device.
/// </summary>
public sealed class MetadataChecker
{
    private readonly MetadataDevice _device;
    private readonly BlockManager _blocks;
    private readonly CheckReport _report = new();
    private readonly IProgress<long>? _progress;
    private bool _structureDamaged;

    private MetadataChecker(MetadataDevice device, IProgress<long>? progress)
    {
        _device = device;
        _blocks = new BlockManager(device, cacheCapacity: 64);
        _progress = progress;
    }

    /// <summary>Checks the metadata; a superblock too damaged to read throws <see cref="MetadataException"/>.</summary>
    public static CheckReport Check(MetadataDevice device, bool superblockOnly = false, IProgress<long>? progress = null) =>
        new MetadataChecker(device, progress).Run(superblockOnly);

    /// <summary>
    /// Checks the held metadata snapshot only: the live superblock's fields, then the snapshot's trees.
    /// A daemon may be writing the rest while this runs (the snapshot's blocks are never written while it
    /// is held), so the live trees and the space map, which move under us, are not compared.
    /// </summary>
    public static CheckReport CheckSnapshot(MetadataDevice device, IProgress<long>? progress = null) =>
        new MetadataChecker(device, progress).RunSnapshot();

    private CheckReport RunSnapshot()
    {
        var sb = EraSuperblock.Read(_device);
        CheckSuperblockFields(sb);
        if (!_report.IsClean) return _report;
        if (sb.MetadataSnap == 0)
        {
            _report.Error("no metadata snapshot taken.");
            return _report;
        }
        var walker = new ReferenceWalker(_blocks, _device.BlockCount, _progress);
        Guard("metadata snapshot", () => WalkSnapshot(walker, sb));
        return _report;
    }

    private CheckReport Run(bool superblockOnly)
    {
        var sb = EraSuperblock.Read(_device);
        CheckSuperblockFields(sb);
        if (superblockOnly || !_report.IsClean) return _report;

        var walker = new ReferenceWalker(_blocks, _device.BlockCount, _progress);
        walker.Ref(0);
        MetadataSpaceMap? sm = null;
        Guard("space map", () =>
        {
            sm = MetadataSpaceMap.Load(_blocks, sb.SpaceMapRoot, _device.BlockCount);
            walker.CountSpaceMap(sb.SpaceMapRoot);
            if (sm.NrAllocated != sb.SpaceMapRoot.NrAllocated)
                _report.Error($"space map: its root says {sb.SpaceMapRoot.NrAllocated} blocks are allocated, the bitmaps count {sm.NrAllocated}");
        });
        Guard("writeset tree", () => WalkWritesetTree(walker, sb.WritesetTreeRoot, sb.CurrentEra, "writeset tree"));
        Guard("era array", () => WalkEraArray(walker, sb.EraArrayRoot, sb.NrBlocks, sb.CurrentEra, "era array"));
        if (!sb.CurrentWriteset.IsNone)
            Guard("current writeset", () => WalkBitset(walker, sb.CurrentWriteset, $"current writeset (era {sb.CurrentEra})"));
        if (sb.MetadataSnap != 0)
            Guard("metadata snapshot", () => WalkSnapshot(walker, sb));

        if (sm is null) return _report;
        if (_structureDamaged)
        {
            _report.Warning("space map reference counts not compared: the damage above hides what is referenced");
            return _report;
        }
        var problems = walker.CompareWith(sm, out var leaked);
        foreach (var problem in problems) _report.Error(problem);
        if (leaked > 0)
            _report.Warning($"{leaked} metadata blocks have leaked (counted in the space map, referenced by nothing)");
        return _report;
    }

    private void CheckSuperblockFields(EraSuperblock sb)
    {
        if (sb.WritesetTreeRoot == 0 || sb.EraArrayRoot == 0)
            _report.Error("superblock: writeset tree root and era array root must not be 0");
        else if (sb.WritesetTreeRoot == sb.EraArrayRoot)
            _report.Error($"superblock: writeset tree and era array share root block {sb.WritesetTreeRoot}");
        foreach (var (name, root) in new[] { ("writeset tree root", sb.WritesetTreeRoot), ("era array root", sb.EraArrayRoot),
                     ("current writeset root", sb.CurrentWriteset.Root), ("metadata snapshot", sb.MetadataSnap) })
            if ((ulong)root >= (ulong)_device.BlockCount)   // a garbage u64 must not pass as a negative long
                _report.Error($"superblock: {name} {(ulong)root} is beyond the end of the metadata device ({_device.BlockCount} blocks)");
        if (sb.DataBlockSize == 0)
            _report.Error("superblock: data block size is 0");
        else if (sb.DataBlockSize % 8 != 0)
            _report.Warning($"superblock: data block size {sb.DataBlockSize} is not a multiple of 8 sectors: the kernel (and dmera serve) will refuse to activate it");
        if (sb.NrBlocks > EraMetadata.MaxNrBlocks)
            _report.Error($"superblock: nr_blocks {sb.NrBlocks} exceeds 2^31 - 1");
    }

    private void Guard(string what, Action walk)
    {
        try
        {
            walk();
        }
        catch (MetadataException e)
        {
            _structureDamaged = true;
            _report.Error(e.Message.StartsWith(what, StringComparison.Ordinal) ? e.Message : $"{what}: {e.Message}");
        }
    }

    private void WalkWritesetTree(ReferenceWalker walker, long root, uint currentEra, string what) =>
        walker.WalkBtree(root, WritesetRoot.Size, what,
            validate: (key, value) =>
            {
                var ws = WritesetRoot.Unpack(value);
                // era_check accepts this; the kernel never writes it, so it is worth a word but not a failure.
                if (key > currentEra)
                    _report.Warning($"{what}: writeset of era {key} is newer than the current era {currentEra}");
                if (ws.Root == 0)
                    throw new MetadataException($"{what}: writeset of era {key} has no bitset");
            },
            count: (key, value) => WalkBitset(walker, WritesetRoot.Unpack(value), $"writeset of era {key}"));

    private static void WalkBitset(ReferenceWalker walker, WritesetRoot ws, string what) =>
        walker.WalkArray(ws.Root, 8, PersistentBitset.WordCount(ws.NrBits), what, null);

    private void WalkEraArray(ReferenceWalker walker, long root, uint nrBlocks, uint currentEra, string what)
    {
        var badEras = 0L;
        walker.WalkArray(root, EraArray.ValueSize, nrBlocks, what, (first, values) =>
        {
            for (var i = 0; i < EraArray.Count(values); i++)
            {
                var era = EraArray.EraAt(values, i);
                if (era <= currentEra) continue;
                if (badEras++ < 10)
                    _report.Error($"{what}: block {first + i} has era {era}, beyond the current era {currentEra}");
            }
        });
        if (badEras > 10) _report.Error($"{what}: {badEras - 10} more blocks with eras beyond the current era");
    }

    private void WalkSnapshot(ReferenceWalker walker, EraSuperblock live)
    {
        var location = live.MetadataSnap;
        if (!walker.Ref(location)) return;
        var clone = EraSuperblock.Unpack(_blocks.Read(location, BlockKind.Superblock));
        if (clone.MagicValue != EraSuperblock.Magic)
            throw new CorruptBlockException(location, "superblock", "metadata snapshot has a bad magic number");
        if (clone.NrBlocks > EraMetadata.MaxNrBlocks)
            throw new CorruptBlockException(location, "superblock", $"metadata snapshot's nr_blocks {clone.NrBlocks} exceeds 2^31 - 1");
        WalkWritesetTree(walker, clone.WritesetTreeRoot, live.CurrentEra, "metadata snapshot's writeset tree");
        WalkEraArray(walker, clone.EraArrayRoot, clone.NrBlocks, live.CurrentEra, "metadata snapshot's era array");
    }
}
