using System.Buffers.Binary;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Era;

/// <summary>A writeset's on-disk value (struct writeset_disk, packed: 12 bytes).</summary>
public readonly record struct WritesetRoot(uint NrBits, long Root)
{
    public const int Size = 12;
    public bool IsNone => Root == 0;

    public void Pack(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, NrBits);
        BinaryPrimitives.WriteUInt64LittleEndian(b[4..], (ulong)Root);
    }

    public static WritesetRoot Unpack(ReadOnlySpan<byte> b) =>
        new(BinaryPrimitives.ReadUInt32LittleEndian(b), (long)BinaryPrimitives.ReadUInt64LittleEndian(b[4..]));
}

/// <summary>
/// The era superblock (struct superblock_disk in dm-era-target.c), block 0 of the metadata device,
/// or the clone a metadata snapshot holds (whose only valid fields are the two tree roots).
/// </summary>
public sealed record EraSuperblock
{
    public const ulong Magic = 2126579579;
    public const uint Version = 1;

    public uint Flags { get; init; }
    public long Location { get; init; }
    public byte[] Uuid { get; init; } = new byte[16];
    public ulong MagicValue { get; init; } = Magic;
    public uint VersionValue { get; init; } = Version;
    public SpaceMapRoot SpaceMapRoot { get; init; }
    public uint DataBlockSize { get; init; }
    public uint MetadataBlockSize { get; init; } = MetadataBlock.SizeSectors;
    public uint NrBlocks { get; init; }
    public uint CurrentEra { get; init; }
    public WritesetRoot CurrentWriteset { get; init; }
    public long WritesetTreeRoot { get; init; }
    public long EraArrayRoot { get; init; }
    public long MetadataSnap { get; init; }

    public byte[] Pack()
    {
        var b = new byte[MetadataBlock.Size];
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), (ulong)Location);
        Uuid.AsSpan(0, 16).CopyTo(b.AsSpan(16));
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(32), MagicValue);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(40), VersionValue);
        SpaceMapRoot.Pack(b.AsSpan(44));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(172), DataBlockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(176), MetadataBlockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(180), NrBlocks);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(184), CurrentEra);
        CurrentWriteset.Pack(b.AsSpan(188));
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(200), (ulong)WritesetTreeRoot);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(208), (ulong)EraArrayRoot);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(216), (ulong)MetadataSnap);
        return b;
    }

    public static EraSuperblock Unpack(ReadOnlySpan<byte> b) => new()
    {
        Flags = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]),
        Location = (long)BinaryPrimitives.ReadUInt64LittleEndian(b[8..]),
        Uuid = b.Slice(16, 16).ToArray(),
        MagicValue = BinaryPrimitives.ReadUInt64LittleEndian(b[32..]),
        VersionValue = BinaryPrimitives.ReadUInt32LittleEndian(b[40..]),
        SpaceMapRoot = SpaceMapRoot.Unpack(b[44..]),
        DataBlockSize = BinaryPrimitives.ReadUInt32LittleEndian(b[172..]),
        MetadataBlockSize = BinaryPrimitives.ReadUInt32LittleEndian(b[176..]),
        NrBlocks = BinaryPrimitives.ReadUInt32LittleEndian(b[180..]),
        CurrentEra = BinaryPrimitives.ReadUInt32LittleEndian(b[184..]),
        CurrentWriteset = WritesetRoot.Unpack(b[188..]),
        WritesetTreeRoot = (long)BinaryPrimitives.ReadUInt64LittleEndian(b[200..]),
        EraArrayRoot = (long)BinaryPrimitives.ReadUInt64LittleEndian(b[208..]),
        MetadataSnap = (long)BinaryPrimitives.ReadUInt64LittleEndian(b[216..]),
    };

    /// <summary>
    /// Reads and validates a superblock at <paramref name="location"/>, saying in words what it is when
    /// it is not era metadata (zeroed, thin or cache metadata, XML, damage).
    /// </summary>
    public static EraSuperblock Read(MetadataDevice device, long location = 0)
    {
        if (device.BlockCount < 1)
            throw new MetadataException("Metadata device/file too small.  Is this binary metadata?");
        var data = new byte[MetadataBlock.Size];
        device.Read(location, data);
        if (data.AsSpan().IndexOfAnyExcept((byte)0) < 0)
            throw new MetadataException(location == 0
                ? "superblock is all zeroes: the metadata device has not been formatted"
                : $"metadata snapshot superblock {location} is all zeroes");
        var salt = BlockChecksum.Stored(data) ^ BlockChecksum.Compute(data, 0);
        if (salt != BlockValidator.EraSuperblockSalt)
        {
            var what = BlockValidator.IdentifySalt(salt);
            if (what is "thin-pool superblock" or "cache superblock")
                throw new MetadataException($"the metadata device holds a {what}, not era metadata");
            if (LooksLikeXml(data))
                throw new MetadataException("This looks like XML.  This tool only supports the binary metadata format.");
            throw new CorruptBlockException(location, "superblock", "checksum mismatch");
        }
        BlockValidator.Check(location, data, BlockKind.Superblock);
        var sb = Unpack(data);
        if (sb.MagicValue != Magic)
            throw new CorruptBlockException(location, "superblock", $"bad magic {sb.MagicValue}, expected {Magic}");
        if (sb.VersionValue != Version)
            throw new CorruptBlockException(location, "superblock", $"unsupported version {sb.VersionValue} (only version 1 exists)");
        if (sb.MetadataBlockSize != MetadataBlock.SizeSectors)
            throw new CorruptBlockException(location, "superblock", $"metadata block size {sb.MetadataBlockSize} sectors, expected 8");
        return sb;
    }

    private static bool LooksLikeXml(ReadOnlySpan<byte> data)
    {
        var text = data.TrimStart(" \t\r\n"u8);
        return text.Length > 0 && text[0] == (byte)'<';
    }
}
