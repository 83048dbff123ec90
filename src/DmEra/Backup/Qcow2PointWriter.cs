using System.Buffers.Binary;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.Win32.SafeHandles;

namespace DmEra.Backup;

/// <summary>
/// Writes one backup point as a qcow2 v3 file in a single forward pass: guest clusters arrive in
/// ascending order and are appended (data, and each L2 table once its 512 MiB-or-so range is done),
/// then the L1 table, the refcounts and finally the header. Memory is the L1 table plus one L2 table and
/// <see cref="QueuedWrites"/> writes in flight, whatever the volume size. Every cluster of the file is
/// referenced exactly once, so every refcount is 1 and every pointer carries COPIED: `qemu-img check`
/// finds nothing to say. Unallocated clusters read through to the backing file (an incremental's clean blocks).
/// <para>
/// The caller's thread lays clusters out and hashes them in file order (the checksum,
/// <see cref="FileChecksum.HeaderLastPrefix"/>, costs no second read of the point); the writes themselves
/// go out from <see cref="Writers"/> threads at their own offsets, each starting its range's writeback, so
/// the copy does not wait for one write at a time and the final sync waits for the tail only.
/// </para>
/// </summary>
public sealed partial class Qcow2PointWriter : IDisposable
{
    /// <summary>Threads issuing writes: two keep a write in the kernel while the next is queued.</summary>
    private const int Writers = 2;
    /// <summary>Writes queued beyond those running: bounds the memory the caller's buffers stay lent for.</summary>
    private const int QueuedWrites = 8;

    private readonly FileStream _file;
    private readonly int _clusterBits;
    private readonly int _clusterSize;
    private readonly long _virtualSize;
    private readonly long _guestClusters;
    private readonly string? _backingFile;
    private readonly ulong[] _l1;
    private readonly byte[] _l2;
    private long _l2Index = -1;
    private bool _l2Dirty;
    private long _nextHostCluster = 1;     // cluster 0 is the header, written last
    private long _lastGuestCluster = -1;
    private bool _finished;
    private readonly Xxh128 _hash = new();
    private readonly Channel<WriteJob> _jobs = Channel.CreateBounded<WriteJob>(QueuedWrites);
    private readonly Task[] _writers;
    private ExceptionDispatchInfo? _failure;

    private readonly record struct WriteJob(ReadOnlyMemory<byte> Data, long Offset, Action? Written);

    public Qcow2PointWriter(string path, long virtualSize, int clusterBits, string? backingFile)
    {
        if (clusterBits is < Qcow2Layout.MinClusterBits or > Qcow2Layout.MaxClusterBits)
            throw new ArgumentOutOfRangeException(nameof(clusterBits));
        _clusterBits = clusterBits;
        _clusterSize = 1 << clusterBits;
        _virtualSize = virtualSize;
        _guestClusters = Qcow2Layout.CeilDiv(virtualSize, _clusterSize);
        _backingFile = backingFile;
        _l1 = new ulong[Qcow2Layout.L1Size(virtualSize, _clusterSize)];
        _l2 = new byte[_clusterSize];
        _file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, 1, FileOptions.None);
        _writers = Enumerable.Range(0, Writers).Select(_ => Task.Factory.StartNew(WriteLoop, TaskCreationOptions.LongRunning)).ToArray();
    }

    public int ClusterSize => _clusterSize;
    public long GuestClusters => _guestClusters;

    /// <summary>The file's checksum (<c>xxh128-header-last:HEX</c>), once <see cref="Finish"/> returned.</summary>
    public string? Checksum { get; private set; }

    /// <summary>
    /// Appends <paramref name="data"/> (whole clusters) as guest clusters from <paramref name="firstCluster"/> on.
    /// The data is written later, from another thread: the caller keeps it unchanged until
    /// <paramref name="written"/> is called (once, whether the write succeeded or not).
    /// </summary>
    public void WriteData(long firstCluster, ReadOnlyMemory<byte> data, Action? written = null)
    {
        if (data.Length % _clusterSize != 0) throw new ArgumentException("data must be whole clusters", nameof(data));
        var count = data.Length / _clusterSize;
        var c = firstCluster;
        var done = 0;
        // One callback for all the pieces (an L2 table's end splits the data): the last one written calls it.
        var pieces = 1;
        Action? piece = written is null ? null : () => { if (Interlocked.Decrement(ref pieces) == 0) written(); };
        try
        {
            while (done < count)
            {
                Advance(c);
                // As many clusters as fit in the current L2 table go out in one write.
                var room = (int)Math.Min(count - done, Qcow2Layout.L2Entries(_clusterSize) - c % Qcow2Layout.L2Entries(_clusterSize));
                var host = _nextHostCluster;
                Interlocked.Increment(ref pieces);
                try
                {
                    Append(data.Slice(done * _clusterSize, room * _clusterSize), piece);
                }
                catch
                {
                    piece?.Invoke();    // never queued
                    throw;
                }
                for (var i = 0; i < room; i++) SetL2(c + i, ((ulong)(host + i) << _clusterBits) | Qcow2Layout.Copied);
                _lastGuestCluster = c + room - 1;
                c += room;
                done += room;
            }
        }
        finally
        {
            piece?.Invoke();
        }
    }

    /// <summary>Marks a guest cluster as reading zeros (without falling through to the backing file).</summary>
    public void WriteZero(long cluster)
    {
        Advance(cluster);
        SetL2(cluster, Qcow2Layout.ZeroFlag);
        _lastGuestCluster = cluster;
    }

    private void Advance(long cluster)
    {
        if (_finished) throw new InvalidOperationException("the point is finished");
        if (cluster <= _lastGuestCluster || cluster >= _guestClusters)
            throw new ArgumentOutOfRangeException(nameof(cluster), $"cluster {cluster} out of order or past the end");
        var l1Index = cluster / Qcow2Layout.L2Entries(_clusterSize);
        if (l1Index == _l2Index) return;
        FlushL2();
        _l2Index = l1Index;
        Array.Clear(_l2);
    }

    private void SetL2(long cluster, ulong entry)
    {
        BinaryPrimitives.WriteUInt64BigEndian(_l2.AsSpan((int)(cluster % Qcow2Layout.L2Entries(_clusterSize)) * 8), entry);
        _l2Dirty = true;
    }

    private void FlushL2()
    {
        if (!_l2Dirty) return;
        var host = _nextHostCluster;
        Append(_l2.ToArray(), null);    // a copy: the table is reused for the next range while this one is written
        _l1[_l2Index] = ((ulong)host << _clusterBits) | Qcow2Layout.Copied;
        _l2Dirty = false;
    }

    /// <summary>Writes the tables and the header and syncs the file; returns its length in bytes.</summary>
    public long Finish()
    {
        if (_finished) throw new InvalidOperationException("the point is finished");
        FlushL2();
        _finished = true;
        var l1Offset = _nextHostCluster << _clusterBits;
        var l1Bytes = new byte[Qcow2Layout.CeilDiv(Math.Max(1, _l1.Length) * 8L, _clusterSize) * _clusterSize];
        for (var i = 0; i < _l1.Length; i++) BinaryPrimitives.WriteUInt64BigEndian(l1Bytes.AsSpan(i * 8), _l1[i]);
        Append(l1Bytes, null);

        var (blocks, tableClusters) = Qcow2Layout.RefcountClusters(_nextHostCluster, _clusterSize);
        var firstBlock = _nextHostCluster;
        var tableCluster = firstBlock + blocks;
        var total = tableCluster + tableClusters;
        var perBlock = _clusterSize * 8 / (1 << Qcow2Layout.RefcountOrder);
        for (long b = 0; b < blocks; b++)
        {
            var block = new byte[_clusterSize];
            for (var i = 0; i < perBlock && b * perBlock + i < total; i++) BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(i * 2), 1);
            Append(block, null);
        }
        var table = new byte[tableClusters * _clusterSize];
        for (long b = 0; b < blocks; b++) BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan((int)b * 8), (ulong)(firstBlock + b) << _clusterBits);
        Append(table, null);
        StopWriters();
        _failure?.Throw();

        // The header last: until it is written the file is not a qcow2 image at all.
        _file.Flush(flushToDisk: true);
        var header = Qcow2Layout.Header(_clusterBits, _virtualSize, _l1.Length, l1Offset, tableCluster << _clusterBits, tableClusters, _backingFile);
        RandomAccess.Write(_file.SafeFileHandle, header, 0);
        _hash.Append(header);
        _file.Flush(flushToDisk: true);
        Checksum = FileChecksum.Format(FileChecksum.HeaderLastPrefix, _hash);
        return total << _clusterBits;
    }

    /// <summary>Hashes whole clusters and queues their write at the next host cluster: the only way bytes after the header reach the file.</summary>
    private void Append(ReadOnlyMemory<byte> clusters, Action? written)
    {
        Volatile.Read(ref _failure)?.Throw();    // a write failed (disk full): the point is lost, stop copying into it
        _hash.Append(clusters.Span);
        var job = new WriteJob(clusters, _nextHostCluster << _clusterBits, written);
        _nextHostCluster += clusters.Length >> _clusterBits;
        if (!_jobs.Writer.TryWrite(job)) _jobs.Writer.WriteAsync(job).AsTask().GetAwaiter().GetResult();
    }

    private void WriteLoop()
    {
        var reader = _jobs.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            while (reader.TryRead(out var job))
            {
                try
                {
                    if (_failure is null)
                    {
                        RandomAccess.Write(_file.SafeFileHandle, job.Data.Span, job.Offset);
                        // Starts the disk writes of this range without waiting for them (Linux; elsewhere a no-op failure).
                        _ = SyncFileRange(_file.SafeFileHandle, job.Offset, job.Data.Length, SyncFileRangeWrite);
                    }
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
                }
                finally
                {
                    job.Written?.Invoke();
                }
            }
        }
    }

    private void StopWriters()
    {
        _jobs.Writer.TryComplete();
        Task.WaitAll(_writers);
    }

    private const uint SyncFileRangeWrite = 2;

    [LibraryImport("libc", EntryPoint = "sync_file_range")]
    private static partial int SyncFileRange(SafeFileHandle fd, long offset, long nbytes, uint flags);

    public void Dispose()
    {
        StopWriters();
        _file.Dispose();
        _hash.Dispose();
    }
}
