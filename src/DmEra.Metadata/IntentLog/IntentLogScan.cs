using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.IntentLog;

/// <summary>
/// What a log holds: its header (null for a log never written) and its live records, oldest first. Read
/// once at activation (to replay) and by the offline tools; never while a writer appends.
/// </summary>
public sealed record IntentLogScan(IntentLogHeader? Header, IReadOnlyList<IntentLogRecord> Records, long BlockCount)
{
    /// <summary>The sequence number the next record gets.</summary>
    public ulong NextSeq => Records.Count > 0 ? Records[^1].Seq + 1 : Header?.HeadSeq ?? 1;

    public int Marks => Records.Sum(r => r.Blocks.Length);

    /// <summary>
    /// Follows the records from the header's head: each must be the next sequence number, at the sector
    /// after the previous one, or at the start of the area when the writer wrapped because it did not fit.
    /// The first sector holding neither ends the log.
    /// </summary>
    public static IntentLogScan Read(MetadataDevice device)
    {
        if (device.BlockCount < IntentLogFormat.MinBlocks)
            throw new MetadataException($"intent log too small: {device.BlockCount} blocks of 4 KiB, at least {IntentLogFormat.MinBlocks} are needed");
        var block = new byte[MetadataBlock.Size];
        device.Read(0, block);
        var header = IntentLogFormat.ReadHeader(block, device.BlockCount);
        if (header is null) return new IntentLogScan(null, [], device.BlockCount);
        var reader = new SectorReader(device);
        var records = new List<IntentLogRecord>();
        var seq = header.HeadSeq;
        var sector = header.HeadSector;
        while (true)
        {
            var record = reader.TryRecord(sector, header.Nonce, seq)
                ?? (sector != IntentLogFormat.AreaStart ? reader.TryRecord(IntentLogFormat.AreaStart, header.Nonce, seq) : null);
            if (record is null) break;
            records.Add(record);
            seq++;
            sector = record.Sector + record.Sectors;
            if (sector >= reader.EndSector) sector = IntentLogFormat.AreaStart;
            if (records.Count > reader.EndSector) throw new MetadataException("intent log: its records run in a circle");
        }
        return new IntentLogScan(header, records, device.BlockCount);
    }

    /// <summary>Reads sectors through whole blocks, caching the last block read (records are mostly one sector).</summary>
    private sealed class SectorReader(MetadataDevice device)
    {
        private readonly byte[] _block = new byte[MetadataBlock.Size];
        private long _cached = -1;

        public long EndSector { get; } = device.BlockCount * IntentLogFormat.SectorsPerBlock;

        public IntentLogRecord? TryRecord(long sector, ulong nonce, ulong seq)
        {
            var first = Sectors(sector, 1);
            var marks = IntentLogFormat.PeekMarks(first, nonce);
            if (marks < 0) return null;
            var count = IntentLogFormat.SectorsFor(marks);
            if (sector + count > EndSector) return null;
            return IntentLogFormat.ReadRecord(Sectors(sector, count), nonce, seq, sector);
        }

        private byte[] Sectors(long sector, int count)
        {
            var result = new byte[count * IntentLogFormat.SectorSize];
            for (var i = 0; i < count; i++)
            {
                var s = sector + i;
                var b = s / IntentLogFormat.SectorsPerBlock;
                if (b != _cached)
                {
                    device.Read(b, _block);
                    _cached = b;
                }
                _block.AsSpan((int)(s % IntentLogFormat.SectorsPerBlock) * IntentLogFormat.SectorSize, IntentLogFormat.SectorSize)
                    .CopyTo(result.AsSpan(i * IntentLogFormat.SectorSize));
            }
            return result;
        }
    }
}
