using DmEra.Metadata.Era.Xml;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Era.Tools;

/// <summary>
/// era_restore: builds fresh metadata on a device from the XML's events. Like the tools, the result has
/// no current writeset: every writeset in the XML becomes an archived tree entry, so activation starts
/// era current_era + 1. Streaming: bits and eras go block by block into the arrays. Like era_restore it
/// takes writesets in any order (a repeated era: the last wins) and leaves judging eras to the checker.
/// </summary>
public sealed class MetadataRestorer : IEraMetadataVisitor
{
    private readonly MetadataDevice _device;
    private TransactionManager? _tm;
    private PersistentBitset? _bitset;
    private EraArray? _eraArray;
    private Btree? _writesetTree;
    private EraSuperblock? _sb;
    private long _writesetTreeRoot;
    private long _eraArrayRoot;
    private ArrayBuilder? _builder;
    private uint _era;
    private uint _nrBits;
    private bool _eraArraySeen;

    public MetadataRestorer(MetadataDevice device) => _device = device;

    public void SuperblockBegin(string uuid, uint blockSize, uint nrBlocks, uint currentEra)
    {
        if (_sb is not null) throw new MetadataException("more than one superblock in the input");
        // Like era_restore, any non-zero size: the kernel's multiple-of-8 rule is enforced when a volume
        // is activated, and a restore must give back whatever a dump holds.
        if (blockSize == 0) throw new MetadataException("block_size must not be 0");
        if (nrBlocks > EraMetadata.MaxNrBlocks)
            throw new MetadataException($"nr_blocks {nrBlocks} exceeds the maximum of 2^31 - 1");
        var sm = MetadataSpaceMap.CreateEmpty(_device.BlockCount);
        _tm = new TransactionManager(new BlockManager(_device), sm);
        sm.Claim(0);
        sm.InitRefCountTree(_tm);
        _bitset = new PersistentBitset(_tm);
        _eraArray = new EraArray(_tm);
        _writesetTree = new Btree(_tm, new WritesetValue(_bitset));
        _writesetTreeRoot = _writesetTree.CreateEmpty();
        _sb = new EraSuperblock { DataBlockSize = blockSize, NrBlocks = nrBlocks, CurrentEra = currentEra };
    }

    public void WritesetBegin(uint era, uint nrBits)
    {
        Started();
        if (_eraArraySeen) throw new MetadataException("writeset after the era array");
        _era = era;
        _nrBits = nrBits;
        _builder = new ArrayBuilder(_bitset!.Words, PersistentBitset.WordCount(nrBits), stackalloc byte[8]);
    }

    public void WritesetBit(uint block, bool value)
    {
        var b = InWriteset(block, 1);
        if (value) b.OrU64(block / 64, 1UL << (int)(block % 64));
    }

    public void WritesetMarked(uint blockBegin, uint length)
    {
        var b = InWriteset(blockBegin, length);
        var end = (ulong)blockBegin + length;
        for (ulong bit = blockBegin; bit < end;)
        {
            var word = bit / 64;
            var from = (int)(bit % 64);
            var to = (int)Math.Min(64, end - word * 64);
            var mask = to - from == 64 ? ulong.MaxValue : ((1UL << (to - from)) - 1) << from;
            b.OrU64((long)word, mask);
            bit = word * 64 + (ulong)to;
        }
    }

    public void WritesetEnd()
    {
        var root = (_builder ?? throw new MetadataException("writeset end without a writeset")).Finish();
        Span<byte> value = stackalloc byte[WritesetRoot.Size];
        new WritesetRoot(_nrBits, root).Pack(value);
        _writesetTreeRoot = _writesetTree!.Insert(_writesetTreeRoot, _era, value);
        _builder = null;
    }

    public void EraArrayBegin()
    {
        var sb = Started();
        if (_builder is not null) throw new MetadataException("era array inside a writeset");
        if (_eraArraySeen) throw new MetadataException("more than one era array");
        _eraArraySeen = true;
        _builder = new ArrayBuilder(_eraArray!.Values, sb.NrBlocks, stackalloc byte[EraArray.ValueSize]);
    }

    public void Era(uint block, uint era)
    {
        var sb = Started();
        if (_builder is null || !_eraArraySeen) throw new MetadataException("era entry outside the era array");
        if (block >= sb.NrBlocks) throw new MetadataException($"era entry for block {block}, beyond nr_blocks {sb.NrBlocks}");
        _builder.SetU32(block, era);
    }

    public void EraArrayEnd()
    {
        _eraArrayRoot = (_builder ?? throw new MetadataException("era array end without an era array")).Finish();
        _builder = null;
    }

    public void SuperblockEnd()
    {
        var sb = Started();
        if (_builder is not null) throw new MetadataException("input ends inside a writeset or the era array");
        if (!_eraArraySeen) _eraArrayRoot = new ArrayBuilder(_eraArray!.Values, sb.NrBlocks, stackalloc byte[EraArray.ValueSize]).Finish();
        var smRoot = _tm!.PreCommit();
        var final = sb with
        {
            SpaceMapRoot = smRoot,
            CurrentWriteset = new WritesetRoot(0, 0),
            WritesetTreeRoot = _writesetTreeRoot,
            EraArrayRoot = _eraArrayRoot,
        };
        _tm.Commit(final.Pack());
        Completed = true;
    }

    /// <summary>True once the whole input was restored and committed.</summary>
    public bool Completed { get; private set; }

    private EraSuperblock Started() => _sb ?? throw new MetadataException("input does not start with a superblock");

    private ArrayBuilder InWriteset(uint block, uint length)
    {
        if (_builder is null || _eraArraySeen) throw new MetadataException("writeset bit outside a writeset");
        if ((ulong)block + length > _nrBits)
            throw new MetadataException($"writeset of era {_era}: block {(ulong)block + length - 1} is beyond its {_nrBits} bits");
        return _builder;
    }
}
