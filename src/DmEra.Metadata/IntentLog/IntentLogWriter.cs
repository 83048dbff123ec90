using System.Security.Cryptography;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.IntentLog;

/// <summary>
/// Appends records to an intent log and moves its head. One thread appends (the metadata writer); another
/// may move the head (the background commit): the bookkeeping is under a lock, the I/O is not. Space is
/// reused in a circle: a record is live from its append until <see cref="AdvanceHead"/> passes it, which
/// the caller does only once the marks it holds are durable in the metadata.
/// </summary>
public sealed class IntentLogWriter
{
    private readonly MetadataDevice _device;
    private readonly object _lock = new();
    private readonly Queue<(ulong Seq, long Sector, long Used)> _live = new();
    private readonly long _end;
    private readonly ulong _nonce;
    private readonly byte[] _trackingId;
    private ulong _nextSeq;
    private ulong _headSeq;
    private long _tail = IntentLogFormat.AreaStart;
    private long _used;
    private byte[] _tailBlock = new byte[MetadataBlock.Size];

    private IntentLogWriter(MetadataDevice device, byte[] trackingId, ulong nextSeq)
    {
        _device = device;
        _end = device.BlockCount * IntentLogFormat.SectorsPerBlock;
        _nonce = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        _trackingId = trackingId;
        _nextSeq = _headSeq = nextSeq;
    }

    /// <summary>
    /// Empties the log: a new nonce makes every record on it stale at once. Durable when it returns. Called
    /// once the metadata holds every mark the log held (activation after its replay, a clean stop).
    /// </summary>
    public static IntentLogWriter Reset(MetadataDevice device, byte[] trackingId, ulong nextSeq)
    {
        if (device.BlockCount < IntentLogFormat.MinBlocks)
            throw new MetadataException($"intent log too small: {device.BlockCount} blocks of 4 KiB, at least {IntentLogFormat.MinBlocks} are needed");
        var log = new IntentLogWriter(device, trackingId, nextSeq);
        log.WriteHeader(nextSeq, IntentLogFormat.AreaStart);
        return log;
    }

    /// <summary>The sequence number of the last record appended (one below the first when none was).</summary>
    public ulong LastSeq
    {
        get { lock (_lock) return _nextSeq - 1; }
    }

    /// <summary>Whether every record appended has been passed by the head.</summary>
    public bool IsEmpty
    {
        get { lock (_lock) return _live.Count == 0; }
    }

    public long AreaSectors => _end - IntentLogFormat.AreaStart;

    /// <summary>Sectors in use, as a fraction of the area (what the caller weighs to commit the metadata early).</summary>
    public double Fill
    {
        get { lock (_lock) return (double)_used / AreaSectors; }
    }

    /// <summary>Whether <paramref name="marks"/> marks fit now, leaving a block of slack before the head (an append rewrites whole blocks).</summary>
    public bool HasRoomFor(int marks)
    {
        lock (_lock) return Place(marks, out _) is not null;
    }

    /// <summary>
    /// Whether a batch this large always fits in an empty log, wherever its tail is: each record may waste
    /// up to its own size skipping the end of the area, and a block of slack stays before the head. Counted
    /// from the records this batch really makes (sized by its marks), so a minimum-size log still takes small
    /// batches.
    /// </summary>
    public bool CouldEverHold(int marks)
    {
        var full = marks / IntentLogFormat.MaxMarksPerRecord;
        var rest = marks % IntentLogFormat.MaxMarksPerRecord;
        long worst = (long)full * IntentLogFormat.SectorsFor(IntentLogFormat.MaxMarksPerRecord) * 2
            + (rest > 0 || full == 0 ? IntentLogFormat.SectorsFor(rest) * 2 : 0)
            + IntentLogFormat.SectorsPerBlock;
        return worst <= AreaSectors;
    }

    /// <summary>
    /// Appends the marks of era <paramref name="era"/> as one or more records and flushes: durable when it
    /// returns. On the daemon's write-through log (<see cref="MetadataDevice.IsWriteThrough"/>: O_DIRECT) the
    /// write of the blocks is one pwritev2(RWF_DSYNC), durable by itself, and the flush costs nothing; on any
    /// other device it is a write and an fdatasync. The caller checks <see cref="HasRoomFor"/> first. Returns
    /// the last sequence number used.
    /// </summary>
    public ulong Append(uint era, ReadOnlySpan<uint> blocks)
    {
        var dirty = new SortedDictionary<long, byte[]>();
        ulong last;
        lock (_lock)
        {
            var placed = Place(blocks.Length, out var newTail)
                ?? throw new MetadataException($"intent log full: no room for {blocks.Length} marks");
            var offset = 0;
            foreach (var (seq, sector, used, marks) in placed)
            {
                var record = new byte[IntentLogFormat.SectorsFor(marks) * IntentLogFormat.SectorSize];
                IntentLogFormat.WriteRecord(record, _nonce, seq, era, blocks.Slice(offset, marks));
                offset += marks;
                for (var i = 0; i < record.Length / IntentLogFormat.SectorSize; i++)
                {
                    var s = sector + i;
                    var b = s / IntentLogFormat.SectorsPerBlock;
                    if (!dirty.TryGetValue(b, out var buffer))
                    {
                        // The block holding the tail keeps the records before it byte for byte; any other starts empty.
                        buffer = b == _tail / IntentLogFormat.SectorsPerBlock && _tail % IntentLogFormat.SectorsPerBlock != 0
                            ? (byte[])_tailBlock.Clone() : new byte[MetadataBlock.Size];
                        dirty[b] = buffer;
                    }
                    record.AsSpan(i * IntentLogFormat.SectorSize, IntentLogFormat.SectorSize)
                        .CopyTo(buffer.AsSpan((int)(s % IntentLogFormat.SectorsPerBlock) * IntentLogFormat.SectorSize));
                }
                _live.Enqueue((seq, sector, used));
                _used += used;
            }
            last = placed[^1].Seq;
            _nextSeq = last + 1;
            _tail = newTail;
            _tailBlock = newTail % IntentLogFormat.SectorsPerBlock != 0 && dirty.TryGetValue(newTail / IntentLogFormat.SectorsPerBlock, out var t)
                ? t : new byte[MetadataBlock.Size];
        }
        WriteRuns(dirty);
        _device.Flush();
        return last;
    }

    /// <summary>
    /// Frees every record below <paramref name="headSeq"/> (their marks are durable in the metadata) and
    /// makes the new head durable. A head that did not move writes nothing.
    /// </summary>
    public void AdvanceHead(ulong headSeq)
    {
        long sector;
        lock (_lock)
        {
            if (headSeq <= _headSeq) return;
            sector = _tail;
            foreach (var r in _live)
                if (r.Seq >= headSeq)
                {
                    sector = r.Sector;
                    break;
                }
        }
        // The space is reused only once the new head is durable: a crash before that scans from the old
        // head, whose records must still be there.
        WriteHeader(headSeq, sector);
        lock (_lock)
        {
            while (_live.Count > 0 && _live.Peek().Seq < headSeq) _used -= _live.Dequeue().Used;
            _headSeq = headSeq;
        }
    }

    /// <summary>Where the records of a batch go: each at the tail, or at the start of the area when it does not fit before the end.</summary>
    private List<(ulong Seq, long Sector, long Used, int Marks)>? Place(int marks, out long newTail)
    {
        var placed = new List<(ulong, long, long, int)>();
        var pos = _tail;
        long total = 0;
        var seq = _nextSeq;
        for (var left = marks; left > 0 || placed.Count == 0; )
        {
            var n = Math.Min(left, IntentLogFormat.MaxMarksPerRecord);
            var sectors = IntentLogFormat.SectorsFor(n);
            long used = sectors;
            if (pos + sectors > _end)
            {
                used += _end - pos;
                pos = IntentLogFormat.AreaStart;
            }
            placed.Add((seq++, pos, used, n));
            total += used;
            pos += sectors;
            if (pos >= _end) pos = IntentLogFormat.AreaStart;
            left -= n;
        }
        newTail = pos;
        return _used + total + IntentLogFormat.SectorsPerBlock <= AreaSectors ? placed : null;
    }

    private void WriteRuns(SortedDictionary<long, byte[]> blocks)
    {
        var run = new List<ReadOnlyMemory<byte>>();
        long first = -1;
        foreach (var (b, data) in blocks)
        {
            if (run.Count > 0 && b != first + run.Count)
            {
                _device.Write(first, run);
                run = new List<ReadOnlyMemory<byte>>();
            }
            if (run.Count == 0) first = b;
            run.Add(data);
        }
        if (run.Count > 0) _device.Write(first, run);
    }

    private void WriteHeader(ulong headSeq, long headSector)
    {
        var block = new byte[MetadataBlock.Size];
        IntentLogFormat.WriteHeader(block, new IntentLogHeader(_nonce, _trackingId, headSeq, headSector));
        _device.Write(0, block);
        _device.Flush();
    }
}
