namespace DmEra.Metadata.PersistentData;

/// <summary>
/// Reads validated blocks through a bounded cache and holds the blocks dirtied by the open transaction
/// until commit. It knows nothing of shadowing: the transaction manager decides which locations may be
/// written, and only ever hands out ones the last committed superblock cannot reach.
/// </summary>
public sealed class BlockManager
{
    private readonly MetadataDevice _device;
    private readonly Dictionary<long, DirtyBlock> _dirty = new();
    private readonly Dictionary<long, LinkedListNode<CachedBlock>> _clean = new();
    private readonly LinkedList<CachedBlock> _lru = new();
    private readonly int _cacheCapacity;

    /// <summary>Below Linux's IOV_MAX (1024) buffers per pwritev.</summary>
    private const int MaxBlocksPerWrite = 256;

    /// <summary>
    /// Block buffers are reused: every commit shadows blocks and drops their old copies, and as fresh arrays
    /// they went through the cache into gen2 and died there. `bench/micro/run.sh btree` (insert + commit each):
    /// 44.4 KB allocated per commit before, 7.7 KB after; the GC pauses that went with it were most of the
    /// fresh-era p99 (bench/peers: p99 / commit p50 at QD1 from 14.4 to 2.6). A dropped buffer is reused only
    /// from the next <see cref="WriteDirty"/> on: callers hold block buffers within one operation, and
    /// WriteDirty runs between operations.
    /// </summary>
    private const int MaxSpareBuffers = 512;
    private readonly Stack<byte[]> _dropped = new();
    private readonly Stack<byte[]> _spare = new();
    private readonly List<ReadOnlyMemory<byte>> _run = new();   // WriteDirty's current run of consecutive blocks

    public BlockManager(MetadataDevice device, int cacheCapacity = 4096)
    {
        _device = device;
        _cacheCapacity = Math.Max(16, cacheCapacity);
    }

    public MetadataDevice Device => _device;
    public int DirtyCount => _dirty.Count;

    /// <summary>Counts device reads and writes, for the tests that prove commit cost follows the change.</summary>
    public long BlocksRead { get; private set; }
    public long BlocksWritten { get; private set; }

    /// <summary>A validated block. The caller must not modify the returned buffer.</summary>
    public byte[] Read(long location, BlockKind kind)
    {
        if (_dirty.TryGetValue(location, out var d))
            return d.Data;
        if (_clean.TryGetValue(location, out var node))
        {
            if (node.Value.Kind != kind)
                BlockValidator.Check(location, node.Value.Data, kind);
            _lru.Remove(node);
            _lru.AddFirst(node);
            return node.Value.Data;
        }
        var data = NewBuffer();
        _device.Read(location, data);
        BlocksRead++;
        BlockValidator.Check(location, data, kind);
        AddClean(location, data, kind);
        return data;
    }

    /// <summary>Reads a block without validating it (tools that report damage, the superblock probe).</summary>
    public byte[] ReadRaw(long location)
    {
        var data = new byte[MetadataBlock.Size];
        _device.Read(location, data);
        BlocksRead++;
        return data;
    }

    /// <summary>The writable copy of a block the open transaction owns.</summary>
    public byte[] Write(long location, BlockKind kind)
    {
        if (_dirty.TryGetValue(location, out var d))
        {
            d.Kind = kind;
            return d.Data;
        }
        var data = NewBuffer();
        Read(location, kind).CopyTo(data, 0);
        DropClean(location);
        _dirty[location] = new DirtyBlock(data, kind);
        return data;
    }

    /// <summary>A zeroed block at a location the open transaction has just allocated.</summary>
    public byte[] WriteZeroed(long location, BlockKind kind)
    {
        DropClean(location);
        if (_dirty.TryGetValue(location, out var d))
        {
            Array.Clear(d.Data);
            d.Kind = kind;
            return d.Data;
        }
        var data = NewBuffer();
        Array.Clear(data);
        _dirty[location] = new DirtyBlock(data, kind);
        return data;
    }

    /// <summary>The block was freed: nothing of it needs writing.</summary>
    public void Forget(long location)
    {
        if (_dirty.Remove(location, out var d)) Drop(d.Data);
        DropClean(location);
    }

    /// <summary>
    /// Writes every dirty block (stamped with its location and checksum) in location order, each run of
    /// consecutive locations in one device write. A commit's shadow copies are mostly allocated side by side,
    /// so a fresh-era commit makes about 4 write calls instead of 11 (strace -c); the flush that follows costs
    /// the same either way within noise (bench/flush/run.py). No flush here: the caller owns the barrier.
    /// </summary>
    public void WriteDirty()
    {
        while (_dropped.TryPop(out var buffer))
            if (_spare.Count < MaxSpareBuffers) _spare.Push(buffer);
        if (_dirty.Count == 0) return;
        var locations = new long[_dirty.Count];
        _dirty.Keys.CopyTo(locations, 0);
        Array.Sort(locations);
        var run = _run;
        for (var i = 0; i < locations.Length; i++)
        {
            var d = _dirty[locations[i]];
            BlockValidator.Prepare(locations[i], d.Data, d.Kind);
            run.Add(d.Data);
            var runEnds = i + 1 == locations.Length || locations[i + 1] != locations[i] + 1 || run.Count == MaxBlocksPerWrite;
            if (!runEnds) continue;
            _device.Write(locations[i] - run.Count + 1, run);
            BlocksWritten += run.Count;
            run.Clear();
        }
        foreach (var location in locations)
        {
            var d = _dirty[location];
            _dirty.Remove(location);
            AddClean(location, d.Data, d.Kind);
        }
    }

    /// <summary>
    /// Bounds the memory of a huge transaction (restoring a 2^24-block device) by writing its dirty
    /// blocks early. Safe because every dirty block was allocated by this transaction: none is reachable
    /// from the committed superblock. Only between operations: callers may hold a dirty buffer.
    /// </summary>
    public void SpillIfLarge(int maxDirty = 8192)
    {
        if (_dirty.Count > maxDirty) WriteDirty();
    }

    /// <summary>
    /// Writes the superblock last, after the barrier that made everything it points at durable. The buffer
    /// becomes the cache's: the caller must not touch it again.
    /// </summary>
    public void WriteSuperblock(byte[] superblock)
    {
        BlockValidator.Prepare(0, superblock, BlockKind.Superblock);
        _device.Write(0, superblock);
        BlocksWritten++;
        AddClean(0, superblock, BlockKind.Superblock);
    }

    public void Flush() => _device.Flush();

    /// <summary>Drops every cached and dirty block (after a failed commit, before re-reading the device).</summary>
    public void Reset()
    {
        _dirty.Clear();
        _clean.Clear();
        _lru.Clear();
        _dropped.Clear();
    }

    private void AddClean(long location, byte[] data, BlockKind kind)
    {
        if (_clean.Remove(location, out var stale))
        {
            _lru.Remove(stale);
            if (!ReferenceEquals(stale.Value.Data, data)) Drop(stale.Value.Data);
        }
        var node = _lru.AddFirst(new CachedBlock(location, data, kind));
        _clean[location] = node;
        while (_clean.Count > _cacheCapacity)
        {
            var last = _lru.Last!;
            _lru.RemoveLast();
            _clean.Remove(last.Value.Location);
            Drop(last.Value.Data);
        }
    }

    private void DropClean(long location)
    {
        if (!_clean.Remove(location, out var node)) return;
        _lru.Remove(node);
        Drop(node.Value.Data);
    }

    private byte[] NewBuffer() => _spare.TryPop(out var buffer) ? buffer : new byte[MetadataBlock.Size];

    private void Drop(byte[] buffer)
    {
        if (_dropped.Count < MaxSpareBuffers) _dropped.Push(buffer);
    }

    private sealed class DirtyBlock(byte[] data, BlockKind kind)
    {
        public byte[] Data { get; } = data;
        public BlockKind Kind { get; set; } = kind;
    }

    private readonly record struct CachedBlock(long Location, byte[] Data, BlockKind Kind);
}
