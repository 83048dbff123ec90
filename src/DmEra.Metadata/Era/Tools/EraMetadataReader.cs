using System.Buffers.Binary;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Era.Tools;

/// <summary>
/// Read-only access to era metadata for the tools: the live superblock, or the metadata snapshot's
/// trees (whose clone superblock is valid only for its two roots, so sizes come from the live one).
/// </summary>
public sealed class EraMetadataReader
{
    private readonly TransactionManager _tm;
    private readonly PersistentArray _eraArray;
    private readonly PersistentBitset _bitset;
    private readonly Btree _writesetTree;

    private EraMetadataReader(IMetadataDevice device, EraSuperblock live, long writesetTreeRoot, long eraArrayRoot, EraSuperblock? snapshot = null)
    {
        Header = snapshot ?? live;
        _tm = TransactionManager.ReadOnly(device);
        _eraArray = new PersistentArray(_tm, 4);
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

    public static EraMetadataReader Open(IMetadataDevice device, bool useMetadataSnapshot = false)
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
    public List<(uint Era, WritesetRoot Writeset)> Writesets()
    {
        var result = new List<(uint, WritesetRoot)>();
        _writesetTree.Walk(WritesetTreeRoot, (key, value) => result.Add(((uint)key, WritesetRoot.Unpack(value))));
        return result;
    }

    public void WalkEraArray(ArrayBlockVisitor visit) => _eraArray.Walk(EraArrayRoot, visit);

    public int EraArrayEntriesPerBlock => _eraArray.EntriesPerBlock;

    /// <summary>Reads a writeset's bits sequentially, one array block at a time.</summary>
    public BitsetCursor OpenBitset(WritesetRoot writeset) => new(_bitset, writeset);

    public sealed class BitsetCursor(PersistentBitset bitset, WritesetRoot writeset)
    {
        private uint _blockIndex = uint.MaxValue;
        private byte[] _words = [];

        public uint NrBits => writeset.NrBits;

        public bool Test(uint bit)
        {
            if (bit >= writeset.NrBits) return false;
            var blockIndex = bit / (uint)bitset.BitsPerBlock;
            if (blockIndex != _blockIndex)
            {
                _words = bitset.ReadWords(writeset.Root, blockIndex).ToArray();
                _blockIndex = blockIndex;
            }
            var w = (int)(bit % (uint)bitset.BitsPerBlock / 64);
            if (w * 8 >= _words.Length)
                throw new MetadataException($"bitset too short: bit {bit} of {writeset.NrBits} is missing");
            return (BinaryPrimitives.ReadUInt64LittleEndian(_words.AsSpan(w * 8)) >> (int)(bit % 64) & 1) != 0;
        }
    }
}
