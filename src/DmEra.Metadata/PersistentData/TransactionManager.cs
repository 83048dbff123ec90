namespace DmEra.Metadata.PersistentData;

/// <summary>
/// Copy-on-write transactions over the metadata device (dm-transaction-manager.c). A block reachable
/// from the last committed superblock is never written: modifying it means shadowing it to a block
/// allocated from the committed free map. Commit writes every dirty block, flushes, writes the
/// superblock, flushes; a crash at any instant leaves the old or the new superblock, both intact.
/// </summary>
public sealed class TransactionManager
{
    private readonly HashSet<long> _shadowed = new();

    private readonly MetadataSpaceMap? _spaceMap;

    public TransactionManager(BlockManager blocks, MetadataSpaceMap? spaceMap)
    {
        Blocks = blocks;
        _spaceMap = spaceMap;
    }

    /// <summary>A transaction manager that can only read (tools walking metadata they must not change).</summary>
    public static TransactionManager ReadOnly(MetadataDevice device) => new(new BlockManager(device), null);

    public BlockManager Blocks { get; }

    public MetadataSpaceMap SpaceMap =>
        _spaceMap ?? throw new InvalidOperationException("metadata was opened read-only");

    public byte[] Read(long location, BlockKind kind) => Blocks.Read(location, kind);

    /// <summary>Allocates a zeroed block owned by this transaction.</summary>
    public (long Location, byte[] Data) NewBlock(BlockKind kind)
    {
        var location = SpaceMap.Allocate();
        _shadowed.Add(location);
        return (location, Blocks.WriteZeroed(location, kind));
    }

    /// <summary>
    /// A writable version of <paramref name="location"/>. In place when this transaction already owns
    /// it and nothing else references it; otherwise a copy at a new location, the original losing one
    /// reference. <c>IncChildren</c> is true when the original was shared, so the caller must add a
    /// reference to everything the copy points at.
    /// </summary>
    public ShadowedBlock Shadow(long location, BlockKind kind)
    {
        var count = SpaceMap.GetCount(location);
        if (count == 0)
            throw new MetadataException($"{BlockValidator.Describe(kind)} {location} is referenced but marked free in the space map");
        if (_shadowed.Contains(location) && count == 1)
            return new ShadowedBlock(location, Blocks.Write(location, kind), false);

        var source = Blocks.Read(location, kind);
        var copy = SpaceMap.Allocate();
        var data = Blocks.WriteZeroed(copy, kind);
        source.AsSpan().CopyTo(data);
        _shadowed.Add(copy);
        Dec(location);
        return new ShadowedBlock(copy, data, count > 1);
    }

    public void Inc(long location) => SpaceMap.Inc(location);

    /// <summary>
    /// Adds a holder to a whole tree (a metadata snapshot). Only right after a commit: a block this
    /// transaction allocated is modified in place, and dm-array edits its array blocks before the btree
    /// path above them, so a block reachable from a root shared mid-transaction would be overwritten
    /// under the new holder. The kernel takes snapshots right after a commit for the same reason.
    /// </summary>
    public void ShareRoot(long root)
    {
        if (_shadowed.Count != 0)
            throw new InvalidOperationException("a root can only be shared right after a commit");
        SpaceMap.Inc(root);
    }

    /// <summary>Drops one reference; returns the count left (0 = the block is free after commit).</summary>
    public uint Dec(long location)
    {
        var left = SpaceMap.Dec(location);
        if (left == 0)
        {
            Blocks.Forget(location);
            _shadowed.Remove(location);
        }
        return left;
    }

    /// <summary>Stores the space map's own changes; the root it returns goes into the superblock.</summary>
    public SpaceMapRoot PreCommit() => SpaceMap.PreCommit(this);

    public void Commit(byte[] superblock)
    {
        Blocks.WriteDirty();
        Blocks.Flush();
        Blocks.WriteSuperblock(superblock);
        Blocks.Flush();
        SpaceMap.OnCommitted();
        _shadowed.Clear();
    }
}

public readonly record struct ShadowedBlock(long Location, byte[] Data, bool IncChildren);
