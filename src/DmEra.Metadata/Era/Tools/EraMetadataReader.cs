using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Era.Tools;

/// <summary>
/// Read-only access to era metadata for the tools: the live superblock, or the metadata snapshot's
/// trees (whose clone superblock is valid only for its two roots, so sizes come from the live one).
/// </summary>
public sealed class EraMetadataReader
{
    private readonly TransactionManager _tm;
    private readonly EraArray _eraArray;
    private readonly PersistentBitset _bitset;
    private readonly Btree _writesetTree;

    private EraMetadataReader(MetadataDevice device, EraSuperblock live, long writesetTreeRoot, long eraArrayRoot, EraSuperblock? snapshot = null)
    {
        Header = snapshot ?? live;
        _tm = TransactionManager.ReadOnly(device);
        _eraArray = new EraArray(_tm);
        _bitset = new PersistentBitset(_tm);
        _writesetTree = new Btree(_tm, new PlainValue(WritesetRoot.Size));
        Superblock = live;
        WritesetTreeRoot = writesetTreeRoot;
        EraArrayRoot = eraArrayRoot;
    }

    public EraSuperblock Superblock { get; }

    /// <summary>
    /// What a dump's header describes: the live superblock, or the snapshot's clone, which is the live
    /// superblock as committed when the snapshot was taken (so its era and size are the snapshot's).
    /// </summary>
    public EraSuperblock Header { get; }
    public long WritesetTreeRoot { get; }
    public long EraArrayRoot { get; }
    public uint NrBlocks => Superblock.NrBlocks;
    public uint CurrentEra => Superblock.CurrentEra;

    public static EraMetadataReader Open(MetadataDevice device, bool useMetadataSnapshot = false)
    {
        var sb = EraSuperblock.Read(device);
        if (!useMetadataSnapshot)
            return new EraMetadataReader(device, sb, sb.WritesetTreeRoot, sb.EraArrayRoot);
        if (sb.MetadataSnap == 0)
            throw new MetadataException("no metadata snapshot taken.");
        if (sb.MetadataSnap >= device.BlockCount)
            throw new MetadataException($"metadata snapshot location {sb.MetadataSnap} is beyond the end of the device");
        var clone = EraSuperblock.Read(device, sb.MetadataSnap);
        return new EraMetadataReader(device, sb, clone.WritesetTreeRoot, clone.EraArrayRoot, clone);
    }

    /// <summary>The archived writesets, oldest era first.</summary>
    public List<Writeset> Writesets()
    {
        var result = new List<Writeset>();
        _writesetTree.Walk(WritesetTreeRoot, (key, value) => result.Add(OpenWriteset((uint)key, WritesetRoot.Unpack(value))));
        return result;
    }

    /// <summary>A writeset's bits (the current one's too: the superblock gives its root).</summary>
    public Writeset OpenWriteset(uint era, WritesetRoot root) => new(_bitset, era, root);

    /// <summary>The eras of blocks [<paramref name="begin"/>, <paramref name="end"/>): the era array folded with <paramref name="writesets"/>.</summary>
    public void VisitEras(IReadOnlyList<Writeset> writesets, uint begin, uint end, BlockErasVisitor visit) =>
        BlockEras.Visit(_eraArray, EraArrayRoot, writesets, begin, end, visit);
}
