using System.Buffers;

namespace DmEra.Engine;

/// <summary>
/// Write-back for first writes: the acknowledged writes whose data is not yet on the origin. A write without
/// FUA need not be durable when it is answered (only FLUSH and FUA promise that, as with any write-back cache),
/// so a write still waiting for the commit of its marks is answered at once, its data copied into a buffer
/// this set owns, and reaches the origin after the commit, in the background. The promise does not move:
/// the marks are durable before the write touches the origin.
/// Every request asks <see cref="IsEmpty"/> first (one volatile read): the steady path takes no lock while
/// nothing is pending. A request overlapping a pending write waits for it (reads see the new data, later
/// writes land after it); FLUSH and FUA wait for every one; a write that failed in the background fails the
/// next FLUSH, as the page cache reports writeback errors at fsync.
/// </summary>
internal sealed class PendingWrites(long capBytes)
{
    // Entries are indexed by 64 KiB granules of the volume: the lookup of a 4 KiB request is one dictionary
    // probe, independent of how many writes are pending (thousands at a time under random writes).
    private const int GranuleShift = 16;
    // Overlap is judged by whole 4 KiB pages, not bytes: two writes into one page that do not share a byte
    // are still ordered. The origin may read-modify-write a page or sector (O_DIRECT, a 4Kn disk), and
    // a crash keeps a sector whole, so a write answered earlier must never land after a later one sharing it.
    private const long PageMask = 4095;

    private readonly object _lock = new();
    private readonly Dictionary<long, List<Entry>> _byGranule = new();
    private readonly HashSet<Entry> _all = new();
    private int _count;
    private long _bytes;
    private Exception? _failure;

    internal sealed class Entry(long offset, int length, byte[] buffer)
    {
        public long Offset { get; } = offset;
        public int Length { get; } = length;
        public ReadOnlyMemory<byte> Data => buffer.AsMemory(0, Length);
        internal byte[] Buffer => buffer;
        /// <summary>Completes (never faults) once the write is on the origin or has failed there.</summary>
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        /// <summary>Whether the 4 KiB pages of [offset, end) and of this write meet.</summary>
        public bool Overlaps(long offset, long end) => offset < ((Offset + Length + PageMask) & ~PageMask) && (Offset & ~PageMask) < end;
    }

    /// <summary>No write is pending (a volatile read: the steady path's only cost).</summary>
    public bool IsEmpty => Volatile.Read(ref _count) == 0;

    public long PendingBytes => Interlocked.Read(ref _bytes);

    /// <summary>
    /// Copies <paramref name="data"/> into a buffer of its own and registers it as pending, or returns null
    /// when the cap would be passed (the write then waits for its commit, as without write-back).
    /// </summary>
    public Entry? TryAdd(long offset, ReadOnlyMemory<byte> data)
    {
        if (data.Length == 0 || data.Length > capBytes) return null;
        if (Interlocked.Add(ref _bytes, data.Length) > capBytes)
        {
            Interlocked.Add(ref _bytes, -data.Length);
            return null;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(data.Length);
        data.Span.CopyTo(buffer);
        var entry = new Entry(offset, data.Length, buffer);
        lock (_lock)
        {
            for (var g = offset >> GranuleShift; g <= (offset + data.Length - 1) >> GranuleShift; g++)
            {
                if (!_byGranule.TryGetValue(g, out var list)) _byGranule[g] = list = new List<Entry>(1);
                list.Add(entry);
            }
            _all.Add(entry);
            Interlocked.Increment(ref _count);   // a full fence: visible before the write is answered
        }
        return entry;
    }

    /// <summary>
    /// The write is on the origin (or failed there with <paramref name="error"/>): later requests no longer wait
    /// for it. True when <paramref name="error"/> is the first failure since the last FLUSH took one (log it).
    /// </summary>
    public bool Complete(Entry entry, Exception? error)
    {
        lock (_lock)
        {
            for (var g = entry.Offset >> GranuleShift; g <= (entry.Offset + entry.Length - 1) >> GranuleShift; g++)
            {
                var list = _byGranule[g];
                list.Remove(entry);
                if (list.Count == 0) _byGranule.Remove(g);
            }
            _all.Remove(entry);
            Interlocked.Decrement(ref _count);
        }
        Interlocked.Add(ref _bytes, -entry.Length);
        var first = error is not null && Interlocked.CompareExchange(ref _failure, error, null) is null;
        ArrayPool<byte>.Shared.Return(entry.Buffer);
        entry.Done.TrySetResult();
        return first;
    }

    /// <summary>Completes when every pending write overlapping the range is on the origin; null when none is.</summary>
    public Task? Overlapping(long offset, long length)
    {
        if (IsEmpty || length == 0) return null;
        var (start, end) = (offset & ~PageMask, (offset + length + PageMask) & ~PageMask);
        List<Task>? waits = null;
        lock (_lock)
        {
            for (var g = offset >> GranuleShift; g <= (offset + length - 1) >> GranuleShift; g++)
            {
                if (!_byGranule.TryGetValue(g, out var list)) continue;
                foreach (var e in list)
                    if (e.Overlaps(start, end) && !(waits ??= new()).Contains(e.Done.Task)) waits.Add(e.Done.Task);
            }
        }
        return waits is null ? null : waits.Count == 1 ? waits[0] : Task.WhenAll(waits);
    }

    /// <summary>Completes when every write pending now is on the origin (or has failed there); null when none is.</summary>
    public Task? All()
    {
        if (IsEmpty) return null;
        Task[] waits;
        lock (_lock) waits = _all.Select(e => e.Done.Task).ToArray();
        return waits.Length == 0 ? null : Task.WhenAll(waits);
    }

    /// <summary>The first failure of a background write since the last call, or null; reported once, at a FLUSH.</summary>
    public Exception? TakeFailure() => Interlocked.Exchange(ref _failure, null);
}
