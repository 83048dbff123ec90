using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Tests.PersistentData;

/// <summary>
/// A bare persistent-data transaction on a memory device, for model tests of single structures.
/// <see cref="CommitAndRecount"/> commits, then reopens the device from scratch, recounts every
/// reference from the given roots and demands the on-disk space map agree exactly (no leak either).
/// </summary>
internal sealed class PdataHarness
{
    public PdataHarness(long blocks = 4096)
    {
        Device = MetadataDevice.InMemory(blocks);
        SpaceMap = MetadataSpaceMap.CreateEmpty(blocks);
        Tm = new TransactionManager(new BlockManager(Device, cacheCapacity: 32), SpaceMap);
        SpaceMap.Claim(0);
        SpaceMap.InitRefCountTree(Tm);
    }

    public MetadataDevice Device { get; }
    public MetadataSpaceMap SpaceMap { get; }
    public TransactionManager Tm { get; }

    public delegate void RootWalker(ReferenceWalker walker);

    public void CommitAndRecount(RootWalker walkRoots)
    {
        var root = Tm.PreCommit();
        Tm.Commit(new EraSuperblock { SpaceMapRoot = root, DataBlockSize = 8 }.Pack());

        var blocks = new BlockManager(Device);
        var sb = EraSuperblock.Read(Device);
        var onDisk = MetadataSpaceMap.Load(blocks, sb.SpaceMapRoot, Device.BlockCount);
        var walker = new ReferenceWalker(blocks, Device.BlockCount);
        walker.Ref(0);
        walker.CountSpaceMap(sb.SpaceMapRoot);
        walkRoots(walker);
        var problems = walker.CompareWith(onDisk, out var leaked);
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        Assert.Equal(0, leaked);
        Assert.Equal(SpaceMap.NrAllocated, onDisk.NrAllocated);
        for (long b = 0; b < SpaceMap.NrBlocks; b++)
            Assert.Equal(SpaceMap.GetCount(b), onDisk.GetCount(b));
    }
}
