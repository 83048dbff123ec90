using System.Buffers.Binary;

namespace DmEra.Metadata.PersistentData;

/// <summary>The kinds of metadata block; each has its own checksum salt and place for its location.</summary>
public enum BlockKind
{
    Superblock,
    BtreeNode,
    ArrayBlock,
    SpaceMapIndex,
    SpaceMapBitmap,
}

/// <summary>
/// The checks every block gets when read (checksum, self-recorded location, shape) and the stamping
/// it gets before it is written. Shape rules are the kernel's node_check / array_block_check.
/// </summary>
public static class BlockValidator
{
    public const uint EraSuperblockSalt = 146538381;
    public const uint BtreeNodeSalt = 121107;
    public const uint ArrayBlockSalt = 595846735;
    public const uint IndexSalt = 160478;
    public const uint BitmapSalt = 240779;
    public const uint ThinSuperblockSalt = 160774;
    public const uint CacheSuperblockSalt = 9031977;

    public static uint Salt(BlockKind kind) => kind switch
    {
        BlockKind.Superblock => EraSuperblockSalt,
        BlockKind.BtreeNode => BtreeNodeSalt,
        BlockKind.ArrayBlock => ArrayBlockSalt,
        BlockKind.SpaceMapIndex => IndexSalt,
        BlockKind.SpaceMapBitmap => BitmapSalt,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Array blocks keep their location after four header fields; everything else at offset 8.</summary>
    public static int LocationOffset(BlockKind kind) => kind == BlockKind.ArrayBlock ? 16 : 8;

    public static string Describe(BlockKind kind) => kind switch
    {
        BlockKind.Superblock => "superblock",
        BlockKind.BtreeNode => "btree node",
        BlockKind.ArrayBlock => "array block",
        BlockKind.SpaceMapIndex => "space map index",
        BlockKind.SpaceMapBitmap => "space map bitmap",
        _ => kind.ToString(),
    };

    public static void Prepare(long location, Span<byte> block, BlockKind kind)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(block[LocationOffset(kind)..], (ulong)location);
        BlockChecksum.Store(block, Salt(kind));
    }

    public static void Check(long location, ReadOnlySpan<byte> block, BlockKind kind)
    {
        var name = Describe(kind);
        var stored = BlockChecksum.Stored(block);
        var computed = BlockChecksum.Compute(block, 0);
        if ((stored ^ computed) != Salt(kind))
        {
            var actually = IdentifySalt(stored ^ computed);
            throw new CorruptBlockException(location, name, actually is null
                ? "checksum mismatch"
                : $"checksum mismatch: it holds a {actually}");
        }
        var recorded = BinaryPrimitives.ReadUInt64LittleEndian(block[LocationOffset(kind)..]);
        if (recorded != (ulong)location)
            throw new CorruptBlockException(location, name, $"records its location as {recorded}");
        switch (kind)
        {
            case BlockKind.BtreeNode: CheckNodeShape(location, block); break;
            case BlockKind.ArrayBlock: CheckArrayShape(location, block); break;
        }
    }

    /// <summary>Names the kind of block a salt belongs to, so a foreign block can be reported as such.</summary>
    public static string? IdentifySalt(uint salt) => salt switch
    {
        EraSuperblockSalt => "era superblock",
        BtreeNodeSalt => "btree node",
        ArrayBlockSalt => "array block",
        IndexSalt => "space map index",
        BitmapSalt => "space map bitmap",
        ThinSuperblockSalt => "thin-pool superblock",
        CacheSuperblockSalt => "cache superblock",
        _ => null,
    };

    private static void CheckNodeShape(long location, ReadOnlySpan<byte> block)
    {
        var node = new BtreeNodeView(block);
        // Exactly one of the two: the kernel's node_check only asks for at least one, but era_check and
        // era_invalidate reject both at once or unknown bits, and nothing ever writes such a node.
        if (node.Flags is not (BtreeNodeView.InternalFlag or BtreeNodeView.LeafFlag))
            throw new CorruptBlockException(location, "btree node",
                $"flags {node.Flags}: a node is either internal ({BtreeNodeView.InternalFlag}) or leaf ({BtreeNodeView.LeafFlag})");
        if ((long)BtreeNodeView.HeaderSize + (8L + node.ValueSize) * node.MaxEntries > MetadataBlock.Size)
            throw new CorruptBlockException(location, "btree node", $"max_entries {node.MaxEntries} with value size {node.ValueSize} overflows the block");
        if (node.NrEntries > node.MaxEntries)
            throw new CorruptBlockException(location, "btree node", $"nr_entries {node.NrEntries} exceeds max_entries {node.MaxEntries}");
    }

    private static void CheckArrayShape(long location, ReadOnlySpan<byte> block)
    {
        var ab = new ArrayBlockView(block);
        if (ab.ValueSize == 0 || 24L + (long)ab.ValueSize * ab.MaxEntries > MetadataBlock.Size)
            throw new CorruptBlockException(location, "array block", $"max_entries {ab.MaxEntries} with value size {ab.ValueSize} overflows the block");
        if (ab.NrEntries > ab.MaxEntries)
            throw new CorruptBlockException(location, "array block", $"nr_entries {ab.NrEntries} exceeds max_entries {ab.MaxEntries}");
    }
}
