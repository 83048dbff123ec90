using System.Buffers.Binary;
using CsCheck;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Tests.PersistentData;

public sealed class BtreeModelTests
{
    private enum Op { Insert, Remove, Commit, TakeClone, DropClone }

    private static readonly Gen<(Op, ulong, uint)> GenOp = Gen.Frequency(
        (60, Gen.Select(Gen.ULong[0, 3000], Gen.UInt, (k, v) => (Op.Insert, k, v))),
        (30, Gen.ULong[0, 3000].Select(k => (Op.Remove, k, 0u))),
        (6, Gen.Const((Op.Commit, 0UL, 0u))),
        (2, Gen.Const((Op.TakeClone, 0UL, 0u))),
        (2, Gen.Const((Op.DropClone, 0UL, 0u))));

    [Fact]
    public void Btree_matches_a_sorted_dictionary_and_the_space_map_counts_every_reference_after_each_commit()
    {
        GenOp.Array[1, 2500].Sample(ops => Run(ops), iter: 25);
    }

    [Fact]
    public void Ascending_inserts_then_removing_everything_leaves_an_empty_root_and_no_leaks()
    {
        var h = new PdataHarness();
        var tree = new Btree(h.Tm, PlainValue.U32);
        var root = tree.CreateEmpty();
        Span<byte> v = stackalloc byte[4];
        for (ulong k = 0; k < 20_000; k++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(v, (uint)k);
            root = tree.Insert(root, k, v);
        }
        h.CommitAndRecount(w => w.WalkBtree(root, 4, "tree", null, null));
        for (ulong k = 0; k < 20_000; k++)
        {
            root = tree.Remove(root, k, out var found);
            Assert.True(found);
        }
        h.CommitAndRecount(w => w.WalkBtree(root, 4, "tree", null, null));
        var count = 0;
        tree.Walk(root, (_, _) => count++);
        Assert.Equal(0, count);
    }

    private static void Run((Op Op, ulong Key, uint Value)[] ops)
    {
        var h = new PdataHarness(8192);
        var tree = new Btree(h.Tm, PlainValue.U32);
        var root = tree.CreateEmpty();
        var model = new SortedDictionary<ulong, uint>();
        long clone = 0;
        SortedDictionary<ulong, uint>? cloneModel = null;
        Span<byte> value = stackalloc byte[4];

        void Recount()
        {
            var r = root;
            var c = clone;
            h.CommitAndRecount(w =>
            {
                w.WalkBtree(r, 4, "live", null, null);
                if (c != 0) w.WalkBtree(c, 4, "clone", null, null);
            });
            AssertContents(tree, root, model);
            if (cloneModel is not null) AssertContents(tree, clone, cloneModel);
        }

        foreach (var (op, key, v) in ops)
        {
            switch (op)
            {
                case Op.Insert:
                    BinaryPrimitives.WriteUInt32LittleEndian(value, v);
                    root = tree.Insert(root, key, value);
                    model[key] = v;
                    break;
                case Op.Remove:
                    root = tree.Remove(root, key, out var found);
                    Assert.Equal(model.Remove(key), found);
                    break;
                case Op.Commit:
                    Recount();
                    break;
                case Op.TakeClone when clone == 0:
                    // A second holder of the same root: later changes to the live tree must copy, not overwrite.
                    Recount();
                    h.Tm.ShareRoot(root);
                    clone = root;
                    cloneModel = new SortedDictionary<ulong, uint>(model);
                    break;
                case Op.DropClone when clone != 0:
                    tree.Delete(clone);
                    clone = 0;
                    cloneModel = null;
                    break;
            }
        }
        Recount();
    }

    private static void AssertContents(Btree tree, long root, SortedDictionary<ulong, uint> model)
    {
        var actual = new List<(ulong, uint)>();
        tree.Walk(root, (k, v) => actual.Add((k, BinaryPrimitives.ReadUInt32LittleEndian(v))));
        Assert.Equal(model.Select(kv => (kv.Key, kv.Value)), actual);
        // Ranged walks read only the nodes that can hold the range and must still find all of it.
        foreach (var (from, to) in new (ulong, ulong)[] { (0, 1), (700, 701), (1000, 2000), (2999, 5000), (1500, 1500) })
        {
            var ranged = new List<ulong>();
            tree.Walk(root, from, to, (k, _) => ranged.Add(k));
            Assert.Equal(model.Keys.Where(k => k >= from && k < to), ranged);
        }
        Span<byte> v = stackalloc byte[4];
        foreach (var (k, expected) in model.Take(50))
        {
            Assert.True(tree.TryLookup(root, k, v));
            Assert.Equal(expected, BinaryPrimitives.ReadUInt32LittleEndian(v));
        }
    }
}
