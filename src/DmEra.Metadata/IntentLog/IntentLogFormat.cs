using System.Buffers.Binary;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.IntentLog;

/// <summary>The log's header (the first 512-byte sector of block 0): which history it belongs to and where its live records start.</summary>
public sealed record IntentLogHeader(ulong Nonce, byte[] TrackingId, ulong HeadSeq, long HeadSector);

/// <summary>One group commit's marks: the blocks first written in <see cref="Era"/>, as appended under <see cref="Seq"/>.</summary>
public sealed record IntentLogRecord(ulong Seq, uint Era, uint[] Blocks, long Sector, int Sectors);

/// <summary>
/// The intent log's on-disk format (pure, no I/O). The log is a file of 4 KiB blocks: block 0 holds the
/// header in its first sector, the rest is a circular area of 512-byte sectors holding records. A record
/// starts on a sector, is checksummed as a whole and carries the log's nonce and a sequence number: a
/// torn or lost record fails its checksum, a stale one from an earlier lap or an earlier log has a lower
/// sequence number or another nonce, so a scan from the header stops exactly after the last record that
/// was written whole. Sector-sized atomicity is all it needs (the header fits in one sector).
/// </summary>
public static class IntentLogFormat
{
    public const int SectorSize = 512;
    public const int SectorsPerBlock = MetadataBlock.Size / SectorSize;
    /// <summary>The first sector of the record area (block 1).</summary>
    public const long AreaStart = SectorsPerBlock;
    public const int RecordHeaderBytes = 32;
    /// <summary>Marks per record: a record of 2,040 marks is 16 sectors (two blocks); a bigger batch writes several.</summary>
    public const int MaxMarksPerRecord = (16 * SectorSize - RecordHeaderBytes) / 4;
    /// <summary>Header block, plus room for the largest record and its block of slack.</summary>
    public const long MinBlocks = 4;
    private const uint HeaderMagic = 0x4C415245;   // "ERAL"
    private const uint RecordMagic = 0x52415245;   // "ERAR"
    private const uint Version = 1;

    public static int SectorsFor(int marks) => (RecordHeaderBytes + 4 * marks + SectorSize - 1) / SectorSize;

    public static void WriteHeader(Span<byte> sector, IntentLogHeader h)
    {
        sector[..SectorSize].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(sector[4..], HeaderMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[8..], Version);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[16..], h.Nonce);
        h.TrackingId.AsSpan(0, 16).CopyTo(sector[24..]);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[40..], h.HeadSeq);
        BinaryPrimitives.WriteInt64LittleEndian(sector[48..], h.HeadSector);
        BinaryPrimitives.WriteUInt32LittleEndian(sector, BlockChecksum.Crc32C(sector[4..SectorSize]));
    }

    /// <summary>The header, null for a log never written (all zeros); throws when it is damaged or of another version.</summary>
    public static IntentLogHeader? ReadHeader(ReadOnlySpan<byte> sector, long blockCount)
    {
        if (sector[..SectorSize].IndexOfAnyExcept((byte)0) < 0) return null;
        if (BinaryPrimitives.ReadUInt32LittleEndian(sector[4..]) != HeaderMagic)
            throw new MetadataException("intent log: block 0 is not an intent log header (bad magic)");
        if (BinaryPrimitives.ReadUInt32LittleEndian(sector) != BlockChecksum.Crc32C(sector[4..SectorSize]))
            throw new MetadataException("intent log: the header's checksum is wrong");
        var version = BinaryPrimitives.ReadUInt32LittleEndian(sector[8..]);
        if (version != Version) throw new MetadataException($"intent log: version {version} is not supported (this build reads {Version})");
        var h = new IntentLogHeader(BinaryPrimitives.ReadUInt64LittleEndian(sector[16..]), sector.Slice(24, 16).ToArray(),
            BinaryPrimitives.ReadUInt64LittleEndian(sector[40..]), BinaryPrimitives.ReadInt64LittleEndian(sector[48..]));
        if (h.HeadSector < AreaStart || h.HeadSector >= blockCount * SectorsPerBlock)
            throw new MetadataException($"intent log: the header's head sector {h.HeadSector} is outside the log");
        return h;
    }

    /// <summary>Encodes a record into <paramref name="target"/> (at least <see cref="SectorsFor"/> sectors; the tail of its last sector is zeroed).</summary>
    public static void WriteRecord(Span<byte> target, ulong nonce, ulong seq, uint era, ReadOnlySpan<uint> blocks)
    {
        var length = RecordHeaderBytes + 4 * blocks.Length;
        target[..(SectorsFor(blocks.Length) * SectorSize)].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(target[4..], RecordMagic);
        BinaryPrimitives.WriteUInt64LittleEndian(target[8..], nonce);
        BinaryPrimitives.WriteUInt64LittleEndian(target[16..], seq);
        BinaryPrimitives.WriteUInt32LittleEndian(target[24..], era);
        BinaryPrimitives.WriteUInt32LittleEndian(target[28..], (uint)blocks.Length);
        for (var i = 0; i < blocks.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(target[(RecordHeaderBytes + 4 * i)..], blocks[i]);
        BinaryPrimitives.WriteUInt32LittleEndian(target, BlockChecksum.Crc32C(target[4..length]));
    }

    /// <summary>How many marks the record starting in <paramref name="firstSector"/> claims, or -1 when it is not a record of this log.</summary>
    public static int PeekMarks(ReadOnlySpan<byte> firstSector, ulong nonce)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(firstSector[4..]) != RecordMagic) return -1;
        if (BinaryPrimitives.ReadUInt64LittleEndian(firstSector[8..]) != nonce) return -1;
        var count = BinaryPrimitives.ReadUInt32LittleEndian(firstSector[28..]);
        return count > MaxMarksPerRecord ? -1 : (int)count;
    }

    /// <summary>Decodes a whole record, or null when its checksum, nonce or sequence number says it is not the one expected.</summary>
    public static IntentLogRecord? ReadRecord(ReadOnlySpan<byte> data, ulong nonce, ulong expectedSeq, long sector)
    {
        var count = PeekMarks(data, nonce);
        if (count < 0) return null;
        var length = RecordHeaderBytes + 4 * count;
        if (data.Length < length) return null;
        if (BinaryPrimitives.ReadUInt32LittleEndian(data) != BlockChecksum.Crc32C(data[4..length])) return null;
        if (BinaryPrimitives.ReadUInt64LittleEndian(data[16..]) != expectedSeq) return null;
        var blocks = new uint[count];
        for (var i = 0; i < count; i++) blocks[i] = BinaryPrimitives.ReadUInt32LittleEndian(data[(RecordHeaderBytes + 4 * i)..]);
        return new IntentLogRecord(expectedSeq, BinaryPrimitives.ReadUInt32LittleEndian(data[24..]), blocks, sector, SectorsFor(count));
    }
}
