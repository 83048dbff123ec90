using System.Buffers.Binary;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Era;

/// <summary>
/// The era target's metadata (dm-era-target.c's era_metadata), synchronous and single-threaded: one
/// owner (the metadata writer actor, or a tool) calls it. Mutations build an open transaction that
/// <see cref="Commit"/> makes durable; nothing is durable before that. Cost of a commit follows what
/// changed: setting k bits shadows O(k · depth) blocks, never O(nr_blocks).
/// </summary>
public sealed class EraMetadata : IDisposable
{
    public const uint MaxNrBlocks = int.MaxValue;    // valid_nr_blocks: < 2^31
    private readonly MetadataDevice _device;
    private readonly TransactionManager _tm;
    private readonly PersistentBitset _bitset;
    private readonly EraArray _eraArray;
    private readonly Btree _writesetTree;
    private long _writesetTreeRoot;
    private long _eraArrayRoot;
    private DigestState? _digest;
    private bool _disposed;

    private EraMetadata(MetadataDevice device, TransactionManager tm, EraSuperblock sb)
    {
        _device = device;
        _tm = tm;
        _bitset = new PersistentBitset(tm);
        _eraArray = new EraArray(tm);
        _writesetTree = new Btree(tm, new WritesetValue(_bitset));
        BlockSize = sb.DataBlockSize;
        NrBlocks = sb.NrBlocks;
        CurrentEra = sb.CurrentEra;
        CurrentWriteset = sb.CurrentWriteset;
        _writesetTreeRoot = sb.WritesetTreeRoot;
        _eraArrayRoot = sb.EraArrayRoot;
        MetadataSnap = sb.MetadataSnap;
        LastCommitted = sb;
        // The kernel blanks the superblock uuid on every commit and era_restore writes zeros: a zero id
        // means "history unknown", so this opening starts a new identity (persisted at the next commit).
        TrackingId = sb.Uuid.AsSpan().IndexOfAnyExcept((byte)0) < 0 ? NewTrackingId() : sb.Uuid.ToArray();
    }

    public uint BlockSize { get; }
    public uint NrBlocks { get; private set; }
    public uint CurrentEra { get; private set; }

    /// <summary>The on-disk writeset of the current era; <see cref="WritesetRoot.IsNone"/> between eras.</summary>
    public WritesetRoot CurrentWriteset { get; private set; }
    public long MetadataSnap { get; private set; }
    public long WritesetTreeRoot => _writesetTreeRoot;
    public long EraArrayRoot => _eraArrayRoot;
    public EraSuperblock LastCommitted { get; private set; }

    /// <summary>
    /// The identity of this tracking history (the superblock's 16-byte uuid field): random when the
    /// metadata is formatted or opened with a zero uuid, kept by every commit. A backup client that finds
    /// another id than its chain's knows the eras it remembers mean nothing here and takes a full backup.
    /// </summary>
    public byte[] TrackingId { get; }

    private static byte[] NewTrackingId() => System.Security.Cryptography.RandomNumberGenerator.GetBytes(16);
    public TransactionManager Transactions => _tm;

    /// <summary>The era array's entries (read them at <see cref="EraArrayRoot"/>).</summary>
    public EraArray EraArray => _eraArray;

    /// <summary>The archived (undigested) writesets, oldest era first.</summary>
    public List<Writeset> ArchivedWritesets()
    {
        var result = new List<Writeset>();
        _writesetTree.Walk(_writesetTreeRoot, (key, value) => result.Add(new Writeset(_bitset, (uint)key, WritesetRoot.Unpack(value))));
        return result;
    }

    /// <summary>
    /// The on-disk eras of blocks [<paramref name="begin"/>, <paramref name="end"/>): the era array folded
    /// with the archived writesets (<see cref="BlockEras"/>). The current writeset is the caller's to add.
    /// </summary>
    public void VisitEras(uint begin, uint end, BlockErasVisitor visit) =>
        BlockEras.Visit(_eraArray, _eraArrayRoot, ArchivedWritesets(), begin, end, visit);

    /// <summary>
    /// The same answer as of a held metadata snapshot (a backup view's instant): its current writeset was
    /// archived when it was taken, so its era array and archived writesets are the whole answer.
    /// </summary>
    public void VisitSnapshotEras(long heldRoot, uint begin, uint end, BlockErasVisitor visit)
    {
        var sb = EraSuperblock.Unpack(_tm.Read(heldRoot, BlockKind.Superblock));
        if (end > sb.NrBlocks)
            throw new ArgumentOutOfRangeException(nameof(end), $"blocks [{begin}, {end}) are outside the snapshot's {sb.NrBlocks} blocks");
        var writesets = new List<Writeset>();
        _writesetTree.Walk(sb.WritesetTreeRoot, (key, value) => writesets.Add(new Writeset(_bitset, (uint)key, WritesetRoot.Unpack(value))));
        BlockEras.Visit(_eraArray, sb.EraArrayRoot, writesets, begin, end, visit);
    }

    /// <summary>Archived writesets wait to be folded into the era array.</summary>
    public bool HasDigestWork => _digest is not null || !IsTreeEmpty(_writesetTreeRoot);

    public EraStatus Status => new(MetadataBlock.SizeSectors, _tm.SpaceMap.NrUsed, _tm.SpaceMap.NrBlocks,
        CurrentEra, MetadataSnap == 0 ? null : MetadataSnap);

    /// <summary>Writes fresh metadata (era 0, no writeset, empty tree and array) and commits it.</summary>
    public static EraMetadata Format(MetadataDevice device, uint blockSizeSectors)
    {
        ValidateBlockSize(blockSizeSectors);
        var sm = MetadataSpaceMap.CreateEmpty(device.BlockCount);
        var tm = new TransactionManager(new BlockManager(device), sm);
        sm.Claim(0);
        sm.InitRefCountTree(tm);
        var writesetTree = new Btree(tm, new PlainValue(WritesetRoot.Size)).CreateEmpty();
        var eraArray = new EraArray(tm).CreateEmpty();
        var md = new EraMetadata(device, tm, new EraSuperblock
        {
            DataBlockSize = blockSizeSectors,
            WritesetTreeRoot = writesetTree,
            EraArrayRoot = eraArray,
        });
        md.Commit();
        return md;
    }

    /// <summary>
    /// Opens era metadata, formatting it when block 0 is all zeroes and <paramref name="mayFormat"/>
    /// (the kernel's ctr). The block size must be the one it was made with (kernel fix c8e846ff), and the
    /// superblock must agree with the trees it points at (<see cref="SuperblockConsistency"/>).
    /// </summary>
    public static EraMetadata Open(MetadataDevice device, uint blockSizeSectors, bool mayFormat = true)
    {
        ValidateBlockSize(blockSizeSectors);
        if (device.BlockCount < 1)
            throw new MetadataException("metadata device too small: it holds no whole 4096-byte block");
        if (mayFormat && IsZeroed(device))
            return Format(device, blockSizeSectors);
        var sb = EraSuperblock.Read(device);
        if (sb.DataBlockSize != blockSizeSectors)
            throw new MetadataException(
                $"changing the data block size (from {sb.DataBlockSize} to {blockSizeSectors}) is not supported");
        var blocks = new BlockManager(device);
        // A device grown since the last start (a full volume fixed by growing its file) lends its new blocks
        // to the space map; the next commit records them.
        var sm = MetadataSpaceMap.Load(blocks, sb.SpaceMapRoot, device.BlockCount).Grow(device.BlockCount);
        var tm = new TransactionManager(blocks, sm);
        SuperblockConsistency.Check(tm, sb);
        return new EraMetadata(device, tm, sb);
    }

    public static bool IsZeroed(MetadataDevice device)
    {
        var block = new byte[MetadataBlock.Size];
        device.Read(0, block);
        return block.AsSpan().IndexOfAnyExcept((byte)0) < 0;
    }

    public static void ValidateBlockSize(uint sectors)
    {
        if (sectors == 0 || sectors % 8 != 0)
            throw new MetadataException($"invalid block size {sectors}: it must be a non-zero multiple of 8 sectors (4 KiB)");
    }

    /// <summary>
    /// Resizes the era array to <paramref name="nrBlocks"/> (new entries era 0). The current writeset is
    /// left as it is: one recorded at another size is clamped when digested (kernel fix de89afc1).
    /// </summary>
    public void Resize(uint nrBlocks)
    {
        if (nrBlocks > MaxNrBlocks)
            throw new MetadataException($"origin too large: {nrBlocks} tracking blocks, the maximum is {MaxNrBlocks} (2^31 - 1)");
        _eraArrayRoot = _eraArray.Resize(_eraArrayRoot, NrBlocks, nrBlocks);
        NrBlocks = nrBlocks;
    }

    /// <summary>Sets the on-disk bits of the current writeset (ascending blocks; duplicates allowed). Durable at the next commit.</summary>
    public void MarkBlocks(ReadOnlySpan<uint> sortedBlocks)
    {
        if (sortedBlocks.IsEmpty) return;
        if (CurrentWriteset.IsNone)
            throw new InvalidOperationException("no current writeset: the volume has not started an era");
        var last = sortedBlocks[^1];
        if (last >= CurrentWriteset.NrBits)
            throw new MetadataException($"block {last} is beyond the current writeset ({CurrentWriteset.NrBits} blocks)");
        var root = _bitset.SetBits(CurrentWriteset.Root, sortedBlocks);
        CurrentWriteset = CurrentWriteset with { Root = root };
    }

    public bool IsMarkedInCurrentWriteset(uint block) =>
        !CurrentWriteset.IsNone && block < CurrentWriteset.NrBits && _bitset.Test(CurrentWriteset.Root, block);

    /// <summary>
    /// Moves the current writeset into the writeset tree under the current era. The root is cleared
    /// only after the insert succeeded (kernel fix de89afc1: clearing first lost it on failure).
    /// </summary>
    public void Archive()
    {
        if (CurrentWriteset.IsNone) return;
        Span<byte> value = stackalloc byte[WritesetRoot.Size];
        CurrentWriteset.Pack(value);
        _writesetTreeRoot = _writesetTree.Insert(_writesetTreeRoot, CurrentEra, value);
        CurrentWriteset = CurrentWriteset with { Root = 0 };
    }

    /// <summary>Starts the next era with an empty writeset of <see cref="NrBlocks"/> bits.</summary>
    public void NewEra()
    {
        if (!CurrentWriteset.IsNone)
            throw new InvalidOperationException("archive the current writeset before starting a new era");
        if (CurrentEra == uint.MaxValue)
            throw new MetadataException("the era counter has reached 2^32 - 1 and cannot advance");
        CurrentWriteset = new WritesetRoot(NrBlocks, _bitset.CreateEmpty(NrBlocks));
        CurrentEra++;
    }

    /// <summary>checkpoint / activation: archive whatever the current era recorded, then a new era.</summary>
    public void Rollover()
    {
        Archive();
        NewEra();
    }

    /// <summary>
    /// One bounded step of folding archived writesets into the era array, oldest era first, so a later
    /// era overwrites an earlier one. Examines at most <paramref name="maxBits"/> bits. Returns whether
    /// work remains. Progress is durable only with the next commit, like the kernel's.
    /// </summary>
    public bool DigestStep(int maxBits = 1 << 16)
    {
        if (_digest is null)
        {
            Span<byte> value = stackalloc byte[WritesetRoot.Size];
            if (!_writesetTree.TryFindLowest(_writesetTreeRoot, out var era, value)) return false;
            _digest = new DigestState((uint)era, WritesetRoot.Unpack(value), 0);
        }
        var d = _digest;
        var nrBits = Math.Min(d.Writeset.NrBits, NrBlocks);
        if (d.NextBit < nrBits)
        {
            var end = (uint)Math.Min((ulong)nrBits, (ulong)d.NextBit + (uint)Math.Max(64, maxBits));
            TranscribeBits(d, d.NextBit, end);
            d.NextBit = end;
            if (end < nrBits) return true;
        }
        _writesetTreeRoot = _writesetTree.Remove(_writesetTreeRoot, d.Era, out _);
        _digest = null;
        return !IsTreeEmpty(_writesetTreeRoot);
    }

    /// <summary>
    /// Runs the digest to the end (shutdown drains it; tools and tests use it), committing whenever
    /// <paramref name="commitDirtyBlocks"/> metadata blocks are dirty so memory and space stay bounded.
    /// </summary>
    public void DigestAll(int commitDirtyBlocks = int.MaxValue)
    {
        // Steps of one bitset array block's bits, so the bound is checked often enough to hold.
        while (DigestStep(_bitset.BitsPerBlock)) CommitIfDirty(commitDirtyBlocks);
    }

    /// <summary>Commits when the open transaction holds at least <paramref name="dirtyBlocks"/> changed blocks.</summary>
    public void CommitIfDirty(int dirtyBlocks)
    {
        if (_tm.Blocks.DirtyCount >= dirtyBlocks) Commit();
    }

    private void TranscribeBits(DigestState d, uint begin, uint end)
    {
        var bitsPerBlock = (uint)_bitset.BitsPerBlock;
        var marked = new List<uint>();
        for (var blockIndex = begin / bitsPerBlock; blockIndex * bitsPerBlock < end; blockIndex++)
        {
            var words = _bitset.ReadWords(d.Writeset.Root, blockIndex);
            var first = blockIndex * bitsPerBlock;
            var from = (int)((Math.Max(begin, first) - first) / 64);
            var to = (int)Math.Min(words.Length / 8, (end - first + 63) / 64);
            for (var w = from; w < to; w++)
            {
                var word = BinaryPrimitives.ReadUInt64LittleEndian(words[(w * 8)..]);
                while (word != 0)
                {
                    var bit = first + (uint)(w * 64 + System.Numerics.BitOperations.TrailingZeroCount(word));
                    word &= word - 1;
                    if (bit >= begin && bit < end) marked.Add(bit);
                }
            }
        }
        var per = (uint)_eraArray.EntriesPerBlock;
        var era = d.Era;
        var i = 0;
        while (i < marked.Count)
        {
            var arrayBlock = marked[i] / per;
            var j = i;
            while (j < marked.Count && marked[j] / per == arrayBlock) j++;
            var slots = marked.GetRange(i, j - i).Select(b => (int)(b % per)).ToArray();
            _eraArrayRoot = _eraArray.SetEra(_eraArrayRoot, arrayBlock, slots, era);
            i = j;
        }
    }

    /// <summary>
    /// take_metadata_snap: roll over (so the snapshot holds every write so far, archived), commit, then
    /// clone the committed superblock and share both trees with it by reference count. Durable at the
    /// next commit. Only one snapshot at a time.
    /// </summary>
    public long TakeSnapshot()
    {
        if (MetadataSnap != 0) throw new EraMessageException("metadata snapshot already exists");
        Rollover();
        Commit();
        _tm.ShareRoot(_writesetTreeRoot);
        _tm.ShareRoot(_eraArrayRoot);
        var (location, data) = _tm.NewBlock(BlockKind.Superblock);
        LastCommitted.Pack().CopyTo(data, 0);
        MetadataSnap = location;
        return location;
    }

    /// <summary>drop_metadata_snap: releases the clone and whatever only it referenced. Durable at the next commit.</summary>
    public void DropSnapshot()
    {
        if (MetadataSnap == 0) throw new EraMessageException("no snap to drop");
        var location = MetadataSnap;
        var clone = ReadSnapshotClone(location);
        MetadataSnap = 0;
        _writesetTree.Delete(clone.WritesetTreeRoot);
        _eraArray.Delete(clone.EraArrayRoot);
        _tm.Dec(location);
    }

    /// <summary>
    /// The held snapshot's clone superblock, checked before anything is released: a garbage pointer (or a
    /// clone whose roots are not btree nodes) is refused as the kernel refuses it ("couldn't read lock
    /// superblock clone"), leaving the volume running and the pointer as it was.
    /// </summary>
    private EraSuperblock ReadSnapshotClone(long location)
    {
        try
        {
            if ((ulong)location >= (ulong)_tm.SpaceMap.NrBlocks || _tm.SpaceMap.GetCount(location) == 0)
                throw new MetadataException($"block {(ulong)location} is not an allocated metadata block");
            var clone = EraSuperblock.Unpack(_tm.Read(location, BlockKind.Superblock));
            foreach (var root in new[] { clone.WritesetTreeRoot, clone.EraArrayRoot })
            {
                if (root <= 0 || root >= _tm.SpaceMap.NrBlocks || _tm.SpaceMap.GetCount(root) == 0)
                    throw new MetadataException($"its tree root {(ulong)root} is not an allocated metadata block");
                _tm.Read(root, BlockKind.BtreeNode);
            }
            return clone;
        }
        catch (MetadataException e)
        {
            throw new EraMessageException($"couldn't read lock superblock clone at {(ulong)location}: {e.Message}");
        }
    }

    /// <summary>
    /// Makes the open transaction durable: space-map pre-commit first, then the superblock is built with
    /// the space map root it produced (kernel fix 117aceb0), then blocks, flush, superblock, flush.
    /// </summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var smRoot = _tm.PreCommit();
        var sb = new EraSuperblock
        {
            SpaceMapRoot = smRoot,
            Uuid = TrackingId,
            DataBlockSize = BlockSize,
            NrBlocks = NrBlocks,
            CurrentEra = CurrentEra,
            CurrentWriteset = CurrentWriteset,
            WritesetTreeRoot = _writesetTreeRoot,
            EraArrayRoot = _eraArrayRoot,
            MetadataSnap = MetadataSnap,
        };
        _tm.Commit(sb.Pack());
        LastCommitted = sb;
    }

    private bool IsTreeEmpty(long root) => new BtreeNodeView(_tm.Read(root, BlockKind.BtreeNode)).NrEntries == 0;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _device.Dispose();
    }

    private sealed class DigestState(uint era, WritesetRoot writeset, uint nextBit)
    {
        public uint Era { get; } = era;
        public WritesetRoot Writeset { get; } = writeset;
        public uint NextBit { get; set; } = nextBit;
    }
}
