using System.Buffers.Binary;

namespace DmEra.Metadata.PersistentData;

/// <summary>
/// Reference counts of every metadata block (dm-space-map-metadata.c), kept whole in memory (2 bits a
/// block plus a dictionary of counts ≥ 3; 4,161,600 blocks at most, about 5 MiB) and written out in
/// the kernel's format at each commit: bitmap blocks, one index block, and a btree for counts ≥ 3.
/// A block is allocatable only when it is free both now and in the last committed state, so nothing
/// the committed superblock can reach is ever reused before the next commit.
/// </summary>
public sealed class MetadataSpaceMap
{
    private readonly long _nrBlocks;
    private readonly byte[] _counts;                // 0..2 exact, 3 = look in _high
    private readonly Dictionary<long, uint> _high = new();
    private readonly ulong[] _committed;            // bit set = referenced in the committed state
    private readonly int[] _freePerBitmap;
    private readonly long[] _bitmapLocations;
    private readonly uint[] _noneFreeBefore;
    private readonly HashSet<int> _dirtyBitmaps = new();
    private readonly HashSet<int> _relocatedBitmaps = new();
    private readonly HashSet<long> _touched = new();
    private Dictionary<long, uint> _onDiskHigh = new();
    private long _indexLocation;
    private bool _indexRelocated;
    private long _refCountRoot;
    private long _allocated;                        // count > 0 now
    private long _unavailable;                      // count > 0 now, or referenced when last committed
    private long _cursor;
    private byte[]? _bitmapScratch;                // one bitmap's counts while encoding, kept: every commit needs it

    private MetadataSpaceMap(long nrBlocks)
    {
        _nrBlocks = nrBlocks;
        _counts = new byte[nrBlocks];
        _committed = new ulong[(nrBlocks + 63) / 64];
        var bitmaps = SpaceMapBitmap.BitmapCount(nrBlocks);
        _freePerBitmap = new int[bitmaps];
        _bitmapLocations = new long[bitmaps];
        _noneFreeBefore = new uint[bitmaps];
        for (var i = 0; i < bitmaps; i++)
            _freePerBitmap[i] = (int)Math.Min(SpaceMapBitmap.EntriesPerBlock, nrBlocks - (long)i * SpaceMapBitmap.EntriesPerBlock);
    }

    public long NrBlocks => _nrBlocks;
    public long NrAllocated => _allocated;

    /// <summary>Blocks not available for allocation: in use now or still referenced by the committed state.</summary>
    public long NrUsed => _unavailable;
    public long NrFree => _nrBlocks - _unavailable;
    public long RefCountRoot => _refCountRoot;
    public long IndexLocation => _indexLocation;

    /// <summary>
    /// A space map for a fresh device: every block free. The caller then allocates the superblock
    /// (block 0) and the ref-count btree's empty root; the first commit lays out bitmaps and index.
    /// </summary>
    public static MetadataSpaceMap CreateEmpty(long deviceBlocks)
    {
        var nrBlocks = Math.Min(deviceBlocks, SpaceMapBitmap.MaxMetadataBlocks);
        if (nrBlocks < 8)
            throw new MetadataException($"metadata device too small: {deviceBlocks} blocks of 4096 bytes");
        var sm = new MetadataSpaceMap(nrBlocks);
        // Every bitmap must be laid out by the first commit, even those with no block in use.
        for (var i = 0; i < sm._bitmapLocations.Length; i++) sm._dirtyBitmaps.Add(i);
        return sm;
    }

    /// <summary>Sets up the ref-count btree of a fresh space map (block 0 must already be taken).</summary>
    public void InitRefCountTree(TransactionManager tm) => _refCountRoot = new Btree(tm, PlainValue.U32).CreateEmpty();

    public static MetadataSpaceMap Load(BlockManager blocks, SpaceMapRoot root, long deviceBlocks)
    {
        if (root.NrBlocks <= 0 || root.NrBlocks > SpaceMapBitmap.MaxMetadataBlocks || root.NrBlocks > deviceBlocks)
            throw new MetadataException(
                $"space map covers {root.NrBlocks} blocks but the metadata device has {deviceBlocks} (maximum {SpaceMapBitmap.MaxMetadataBlocks})");
        var sm = new MetadataSpaceMap(root.NrBlocks)
        {
            _indexLocation = root.IndexLocation,
            _refCountRoot = root.RefCountRoot,
        };
        CheckLocation(root.IndexLocation, root.NrBlocks, "space map index");
        var index = blocks.Read(root.IndexLocation, BlockKind.SpaceMapIndex);
        for (var i = 0; i < sm._bitmapLocations.Length; i++)
        {
            var entry = SpaceMapBitmap.ReadIndexEntry(index, i);
            CheckLocation(entry.Location, root.NrBlocks, $"space map bitmap {i}");
            sm._bitmapLocations[i] = entry.Location;
            sm._noneFreeBefore[i] = entry.NoneFreeBefore;
            var bitmap = blocks.Read(entry.Location, BlockKind.SpaceMapBitmap);
            var first = (long)i * SpaceMapBitmap.EntriesPerBlock;
            var n = (int)Math.Min(SpaceMapBitmap.EntriesPerBlock, root.NrBlocks - first);
            for (var e = 0; e < n; e++)
            {
                var c = SpaceMapBitmap.Decode(bitmap, e);
                if (c == 0) continue;
                sm._counts[first + e] = (byte)c;
                sm._freePerBitmap[i]--;
                sm._allocated++;
                sm._committed[(first + e) >> 6] |= 1UL << (int)((first + e) & 63);
            }
        }
        sm._unavailable = sm._allocated;
        sm.LoadRefCounts(blocks, root.RefCountRoot);
        return sm;
    }

    /// <summary>
    /// The same space map over a device that has grown (the format allows it; the kernel's dm-era never
    /// does it): the new blocks are free, the bitmaps they need are laid out by the next commit, and
    /// nothing already counted moves. Capped at the format's 4,161,600 blocks.
    /// </summary>
    public MetadataSpaceMap Grow(long deviceBlocks)
    {
        var nrBlocks = Math.Min(deviceBlocks, SpaceMapBitmap.MaxMetadataBlocks);
        if (nrBlocks <= _nrBlocks) return this;
        var grown = new MetadataSpaceMap(nrBlocks)
        {
            _indexLocation = _indexLocation,
            _refCountRoot = _refCountRoot,
            _allocated = _allocated,
            _unavailable = _unavailable,
            _cursor = _cursor,
            _onDiskHigh = new Dictionary<long, uint>(_onDiskHigh),
            _indexRelocated = _indexRelocated,
        };
        Array.Copy(_counts, grown._counts, _nrBlocks);
        Array.Copy(_committed, grown._committed, _committed.Length);
        foreach (var (block, count) in _high) grown._high[block] = count;
        foreach (var block in _touched) grown._touched.Add(block);
        foreach (var bitmap in _relocatedBitmaps) grown._relocatedBitmaps.Add(bitmap);
        for (var i = 0; i < _bitmapLocations.Length; i++)
        {
            grown._bitmapLocations[i] = _bitmapLocations[i];
            grown._noneFreeBefore[i] = _noneFreeBefore[i];
            grown._freePerBitmap[i] -= (int)Math.Min(SpaceMapBitmap.EntriesPerBlock, _nrBlocks - (long)i * SpaceMapBitmap.EntriesPerBlock) - _freePerBitmap[i];
        }
        foreach (var bitmap in _dirtyBitmaps) grown._dirtyBitmaps.Add(bitmap);
        // The last old bitmap now covers more blocks (its free count changed) and the new ones exist only in memory.
        for (var i = _bitmapLocations.Length - 1; i < grown._bitmapLocations.Length; i++) grown._dirtyBitmaps.Add(i);
        return grown;
    }

    private void LoadRefCounts(BlockManager blocks, long root)
    {
        CheckLocation(root, _nrBlocks, "space map ref-count btree");
        var stack = new Stack<long>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var node = new BtreeNodeView(blocks.Read(stack.Pop(), BlockKind.BtreeNode));
            for (var i = 0; i < node.NrEntries; i++)
            {
                if (!node.IsLeaf)
                {
                    stack.Push(node.Child(i));
                    continue;
                }
                var block = (long)node.Key(i);
                var count = BinaryPrimitives.ReadUInt32LittleEndian(node.Value(i));
                if (block < _nrBlocks && _counts[block] == 3 && count >= 3)
                {
                    _high[block] = count;
                    _onDiskHigh[block] = count;
                }
            }
        }
        for (long b = 0; b < _nrBlocks; b++)
            if (_counts[b] == 3 && !_high.ContainsKey(b))
                throw new MetadataException($"space map: block {b} has an overflow count but no entry in the ref-count btree");
    }

    private static void CheckLocation(long location, long nrBlocks, string what)
    {
        if (location <= 0 || location >= nrBlocks)
            throw new MetadataException($"{what} location {location} is outside the metadata device");
    }

    public uint GetCount(long block)
    {
        CheckBlock(block);
        var c = _counts[block];
        return c < 3 ? c : _high[block];
    }

    public void Inc(long block) => SetCount(block, GetCount(block) + 1);

    public uint Dec(long block)
    {
        var c = GetCount(block);
        if (c == 0)
            throw new MetadataException($"space map: reference count of metadata block {block} would drop below zero");
        SetCount(block, c - 1);
        return c - 1;
    }

    /// <summary>A block free now and in the committed state, its count set to 1.</summary>
    public long Allocate()
    {
        var start = _cursor;
        for (var pass = 0; pass < 2; pass++)
        {
            var b = pass == 0 ? start : 0;
            var end = pass == 0 ? _nrBlocks : start;
            while (b < end)
            {
                var bitmap = (int)(b / SpaceMapBitmap.EntriesPerBlock);
                if (_freePerBitmap[bitmap] == 0)
                {
                    b = (long)(bitmap + 1) * SpaceMapBitmap.EntriesPerBlock;
                    continue;
                }
                if (_counts[b] == 0 && (_committed[b >> 6] & (1UL << (int)(b & 63))) == 0)
                {
                    SetCount(b, 1);
                    _cursor = b + 1 < _nrBlocks ? b + 1 : 0;
                    return b;
                }
                b++;
            }
        }
        throw new MetadataSpaceExhaustedException(_nrBlocks);
    }

    /// <summary>Claims a specific free block (block 0 for the superblock at format).</summary>
    public void Claim(long block)
    {
        if (GetCount(block) != 0) throw new MetadataException($"space map: block {block} is already in use");
        SetCount(block, 1);
    }

    private void SetCount(long block, uint count)
    {
        CheckBlock(block);
        var old = _counts[block] < 3 ? _counts[block] : _high[block];
        if (old == count) return;
        if (count >= 3)
        {
            _counts[block] = 3;
            _high[block] = count;
        }
        else
        {
            _counts[block] = (byte)count;
            _high.Remove(block);
        }
        var bitmap = (int)(block / SpaceMapBitmap.EntriesPerBlock);
        var committed = (_committed[block >> 6] & (1UL << (int)(block & 63))) != 0;
        if (old == 0)
        {
            _freePerBitmap[bitmap]--;
            _allocated++;
            if (!committed) _unavailable++;
        }
        else if (count == 0)
        {
            _freePerBitmap[bitmap]++;
            _allocated--;
            if (!committed) _unavailable--;
        }
        if (Math.Min(old, 3) != Math.Min(count, 3)) _dirtyBitmaps.Add(bitmap);
        _touched.Add(block);
    }

    private void CheckBlock(long block)
    {
        if ((ulong)block >= (ulong)_nrBlocks)
            throw new MetadataException($"metadata block {block} is outside the space map ({_nrBlocks} blocks)");
    }

    /// <summary>
    /// Writes the space map's own state (dm_sm_commit's pre-commit): first the ref-count btree, then
    /// every changed bitmap and the index, each shadowed to a new block. Shadowing allocates, which
    /// changes counts, which dirties bitmaps: repeated until nothing new is dirty, each bitmap moving at
    /// most once a transaction.
    /// </summary>
    public SpaceMapRoot PreCommit(TransactionManager tm)
    {
        SyncRefCountTree(tm);
        bool moved;
        do
        {
            moved = false;
            foreach (var bitmap in _dirtyBitmaps.ToArray())
            {
                if (!_relocatedBitmaps.Add(bitmap)) continue;
                var old = _bitmapLocations[bitmap];
                _bitmapLocations[bitmap] = Allocate();
                if (old != 0) Dec(old);
                moved = true;
            }
            if (!_indexRelocated)
            {
                _indexRelocated = true;
                var old = _indexLocation;
                _indexLocation = Allocate();
                if (old != 0) Dec(old);
                moved = true;
            }
        } while (moved);
        if (_high.Count != _onDiskHigh.Count || _high.Any(kv => !_onDiskHigh.TryGetValue(kv.Key, out var v) || v != kv.Value))
            throw new InvalidOperationException("space map: overflow counts changed while the bitmaps were written");

        var scratch = _bitmapScratch ??= new byte[SpaceMapBitmap.EntriesPerBlock];
        foreach (var bitmap in _relocatedBitmaps)
        {
            var first = (long)bitmap * SpaceMapBitmap.EntriesPerBlock;
            var n = (int)Math.Min(SpaceMapBitmap.EntriesPerBlock, _nrBlocks - first);
            Array.Copy(_counts, first, scratch, 0, n);
            var block = tm.Blocks.WriteZeroed(_bitmapLocations[bitmap], BlockKind.SpaceMapBitmap);
            SpaceMapBitmap.Encode(block, scratch.AsSpan(0, n));
            var firstFree = Array.IndexOf(_counts, (byte)0, (int)first, n);
            _noneFreeBefore[bitmap] = firstFree < 0 ? (uint)n : (uint)(firstFree - first);
        }
        var index = tm.Blocks.WriteZeroed(_indexLocation, BlockKind.SpaceMapIndex);
        for (var i = 0; i < _bitmapLocations.Length; i++)
            SpaceMapBitmap.WriteIndexEntry(index, i,
                new SpaceMapBitmap.IndexEntry(_bitmapLocations[i], (uint)_freePerBitmap[i], _noneFreeBefore[i]));
        return new SpaceMapRoot(_nrBlocks, _allocated, _indexLocation, _refCountRoot);
    }

    /// <summary>Brings the ref-count btree in line with the counts ≥ 3 (its own nodes only ever have count 1).</summary>
    private void SyncRefCountTree(TransactionManager tm)
    {
        var tree = new Btree(tm, PlainValue.U32);
        Span<byte> value = stackalloc byte[4];
        for (var round = 0; round < 8; round++)
        {
            var removed = _onDiskHigh.Keys.Where(k => !_high.ContainsKey(k)).ToList();
            var changed = _high.Where(kv => !_onDiskHigh.TryGetValue(kv.Key, out var v) || v != kv.Value).ToList();
            if (removed.Count == 0 && changed.Count == 0) return;
            foreach (var block in removed)
            {
                _refCountRoot = tree.Remove(_refCountRoot, (ulong)block, out _);
                _onDiskHigh.Remove(block);
            }
            foreach (var (block, count) in changed)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(value, count);
                _refCountRoot = tree.Insert(_refCountRoot, (ulong)block, value);
                _onDiskHigh[block] = count;
            }
        }
        throw new InvalidOperationException("space map: ref-count btree did not settle");
    }

    /// <summary>The superblock is durable: what this transaction freed may now be reused.</summary>
    public void OnCommitted()
    {
        foreach (var block in _touched)
        {
            var word = block >> 6;
            var bit = 1UL << (int)(block & 63);
            var wasCommitted = (_committed[word] & bit) != 0;
            var nowUsed = _counts[block] != 0;
            if (nowUsed) _committed[word] |= bit;
            else
            {
                _committed[word] &= ~bit;
                if (wasCommitted) _unavailable--;
            }
        }
        _touched.Clear();
        _dirtyBitmaps.Clear();
        _relocatedBitmaps.Clear();
        _indexRelocated = false;
    }
}
