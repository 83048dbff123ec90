using System.Buffers.Binary;

namespace DmEra.Backup;

/// <summary>
/// Writes one backup point as a qcow2 v3 file in a single forward pass: guest clusters arrive in
/// ascending order and are appended (data, and each L2 table once its 512 MiB-or-so range is done),
/// then the L1 table, the refcounts and finally the header. Memory is the L1 table plus one L2 table,
/// whatever the volume size. Every cluster of the file is referenced exactly once, so every refcount
/// is 1 and every pointer carries COPIED: `qemu-img check` finds nothing to say.
/// Unallocated clusters read through to the backing file (an incremental's clean blocks).
/// </summary>
public sealed class Qcow2PointWriter : IDisposable
{
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
    }

    public int ClusterSize => _clusterSize;
    public long GuestClusters => _guestClusters;

    /// <summary>Appends <paramref name="data"/> (whole clusters) as guest clusters from <paramref name="firstCluster"/> on.</summary>
    public void WriteData(long firstCluster, ReadOnlySpan<byte> data)
    {
        if (data.Length % _clusterSize != 0) throw new ArgumentException("data must be whole clusters", nameof(data));
        var count = data.Length / _clusterSize;
        var c = firstCluster;
        var done = 0;
        while (done < count)
        {
            Advance(c);
            // As many clusters as fit in the current L2 table go out in one write.
            var room = (int)Math.Min(count - done, Qcow2Layout.L2Entries(_clusterSize) - c % Qcow2Layout.L2Entries(_clusterSize));
            var host = _nextHostCluster;
            RandomAccess.Write(_file.SafeFileHandle, data.Slice(done * _clusterSize, room * _clusterSize), host << _clusterBits);
            for (var i = 0; i < room; i++) SetL2(c + i, ((ulong)(host + i) << _clusterBits) | Qcow2Layout.Copied);
            _nextHostCluster += room;
            _lastGuestCluster = c + room - 1;
            c += room;
            done += room;
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
        var host = _nextHostCluster++;
        RandomAccess.Write(_file.SafeFileHandle, _l2, host << _clusterBits);
        _l1[_l2Index] = ((ulong)host << _clusterBits) | Qcow2Layout.Copied;
        _l2Dirty = false;
    }

    /// <summary>Writes the tables and the header and syncs the file; returns its length in bytes.</summary>
    public long Finish()
    {
        if (_finished) throw new InvalidOperationException("the point is finished");
        _finished = true;
        FlushL2();
        var l1Offset = _nextHostCluster << _clusterBits;
        var l1Bytes = new byte[Qcow2Layout.CeilDiv(Math.Max(1, _l1.Length) * 8L, _clusterSize) * _clusterSize];
        for (var i = 0; i < _l1.Length; i++) BinaryPrimitives.WriteUInt64BigEndian(l1Bytes.AsSpan(i * 8), _l1[i]);
        RandomAccess.Write(_file.SafeFileHandle, l1Bytes, l1Offset);
        _nextHostCluster += l1Bytes.Length / _clusterSize;

        var (blocks, tableClusters) = Qcow2Layout.RefcountClusters(_nextHostCluster, _clusterSize);
        var firstBlock = _nextHostCluster;
        var tableCluster = firstBlock + blocks;
        var total = tableCluster + tableClusters;
        var perBlock = _clusterSize * 8 / (1 << Qcow2Layout.RefcountOrder);
        var block = new byte[_clusterSize];
        for (long b = 0; b < blocks; b++)
        {
            Array.Clear(block);
            for (var i = 0; i < perBlock && b * perBlock + i < total; i++) BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(i * 2), 1);
            RandomAccess.Write(_file.SafeFileHandle, block, (firstBlock + b) << _clusterBits);
        }
        var table = new byte[tableClusters * _clusterSize];
        for (long b = 0; b < blocks; b++) BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan((int)b * 8), (ulong)(firstBlock + b) << _clusterBits);
        RandomAccess.Write(_file.SafeFileHandle, table, tableCluster << _clusterBits);

        // The header last: until it is written the file is not a qcow2 image at all.
        _file.Flush(flushToDisk: true);
        var header = Qcow2Layout.Header(_clusterBits, _virtualSize, _l1.Length, l1Offset, tableCluster << _clusterBits, tableClusters, _backingFile);
        RandomAccess.Write(_file.SafeFileHandle, header, 0);
        _file.Flush(flushToDisk: true);
        return total << _clusterBits;
    }

    public void Dispose() => _file.Dispose();
}
