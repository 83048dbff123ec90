using BenchmarkDotNet.Attributes;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;

namespace DmEra.Micro.Bench.Metadata;

/// <summary>
/// <see cref="Btree.Insert"/> of u64 keys into a tree that starts empty, committing the transaction every
/// <see cref="CommitEvery"/> inserts: a commit ends the transaction, so the next insert shadows its whole
/// path again (copy-on-write) and the space map's reference-count tree is written with it. Reported per
/// insert; the commits are part of the cost.
/// </summary>
[BenchmarkCategory("btree")]
[Config(typeof(OneShotConfig))]
[MemoryDiagnoser]
public class BtreeInsertBenchmarks
{
    private const int Keys = 32768;

    /// <summary>16384 blocks (64 MiB): room for the tree, its shadows within a transaction, and the space map.</summary>
    private const long DeviceBlocks = 16384;

    public enum KeyOrder { Ascending, Random }

    /// <summary>Every insert its own transaction; one commit per 64; one commit for the lot.</summary>
    [Params(1, 64, Keys)]
    public int CommitEvery { get; set; }

    [Params(KeyOrder.Ascending, KeyOrder.Random)]
    public KeyOrder Order { get; set; }

    private ulong[] _keys = null!;
    private EraMetadata _metadata = null!;
    private Btree _tree = null!;
    private long _root;

    [GlobalSetup]
    public void Setup()
    {
        _keys = new ulong[Keys];
        for (var i = 0; i < Keys; i++) _keys[i] = (ulong)i * 3;   // gaps, so random order also inserts between keys
        if (Order == KeyOrder.Random) new Random(11).Shuffle(_keys);
    }

    [IterationSetup]
    public void FreshTree()
    {
        _metadata = EraMetadata.Format(MetadataDevice.InMemory(DeviceBlocks), blockSizeSectors: 8);
        _tree = new Btree(_metadata.Transactions, PlainValue.U64);
        _root = _tree.CreateEmpty();
        _metadata.Commit();
    }

    [Benchmark(OperationsPerInvoke = Keys)]
    public long Insert()
    {
        Span<byte> value = stackalloc byte[8];
        for (var i = 0; i < _keys.Length; i++)
        {
            BitConverter.TryWriteBytes(value, ~_keys[i]);
            _root = _tree.Insert(_root, _keys[i], value);
            if ((i + 1) % CommitEvery == 0) _metadata.Commit();
        }
        _metadata.Commit();
        return _root;
    }

    /// <summary>Every key inserted, once, with its value: a benchmark of a broken insert would be worthless.</summary>
    [IterationCleanup]
    public void CheckTree()
    {
        long entries = 0;
        var wrong = 0;
        _tree.Walk(_root, (key, value) =>
        {
            entries++;
            if (BitConverter.ToUInt64(value) != ~key) wrong++;
        });
        if (entries != Keys || wrong != 0)
            throw new InvalidOperationException($"the tree holds {entries} entries ({wrong} with wrong values); {Keys} were inserted");
        _metadata.Dispose();
    }
}
