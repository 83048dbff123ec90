using System.Buffers.Binary;
using CsCheck;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Tests.PersistentData;

public sealed class ArrayModelTests
{
    private enum Op { Resize, Set, Commit, TakeClone, DropClone }

    private static readonly Gen<(Op, uint, uint)> GenOp = Gen.Frequency(
        (8, Gen.UInt[0, 6000].Select(n => (Op.Resize, n, 0u))),
        (70, Gen.Select(Gen.UInt[0, 6000], Gen.UInt, (i, v) => (Op.Set, i, v))),
        (10, Gen.Const((Op.Commit, 0u, 0u))),
        (6, Gen.Const((Op.TakeClone, 0u, 0u))),
        (6, Gen.Const((Op.DropClone, 0u, 0u))));

    [Fact]
    public void Array_matches_a_list_and_shared_blocks_are_counted_after_each_commit()
    {
        GenOp.Array[1, 400].Sample(Run, iter: 40);
    }

    [Fact]
    public void Growing_to_a_million_entries_costs_a_handful_of_blocks()
    {
        var h = new PdataHarness();
        var array = new PersistentArray(h.Tm, 4);
        var before = h.SpaceMap.NrAllocated;
        var root = array.Resize(array.CreateEmpty(), 0, 1_000_000, stackalloc byte[4]);
        // One shared full block, one tail block and the btree nodes: not 983 blocks.
        Assert.InRange(h.SpaceMap.NrAllocated - before, 3, 12);
        h.CommitAndRecount(w => w.WalkArray(root, 4, 1_000_000, "array", (_, _) => { }));
        Span<byte> v = stackalloc byte[4];
        array.Get(root, 999_999, v);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(v));
    }

    private static void Run((Op Op, uint A, uint B)[] ops)
    {
        var h = new PdataHarness(8192);
        var array = new PersistentArray(h.Tm, 4);
        var root = array.CreateEmpty();
        var model = new List<uint>();
        long clone = 0;
        List<uint>? cloneModel = null;
        Span<byte> value = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(value, 7);
        var defaultValue = value.ToArray();

        void Recount()
        {
            var (r, c, n, cn) = (root, clone, model.Count, cloneModel?.Count ?? 0);
            h.CommitAndRecount(w =>
            {
                w.WalkArray(r, 4, n, "live", (_, _) => { });
                if (c != 0) w.WalkArray(c, 4, cn, "clone", (_, _) => { });
            });
            AssertContents(array, root, model);
            if (cloneModel is not null) AssertContents(array, clone, cloneModel);
        }

        foreach (var (op, a, b) in ops)
        {
            switch (op)
            {
                case Op.Resize:
                    root = array.Resize(root, (uint)model.Count, a, defaultValue);
                    if (a < model.Count) model.RemoveRange((int)a, model.Count - (int)a);
                    else model.AddRange(Enumerable.Repeat(7u, (int)a - model.Count));
                    break;
                case Op.Set when model.Count > 0:
                    var index = a % (uint)model.Count;
                    BinaryPrimitives.WriteUInt32LittleEndian(value, b);
                    root = array.Set(root, index, value);
                    model[(int)index] = b;
                    break;
                case Op.Commit:
                    Recount();
                    break;
                case Op.TakeClone when clone == 0:
                    Recount();
                    h.Tm.ShareRoot(root);
                    clone = root;
                    cloneModel = [.. model];
                    break;
                case Op.DropClone when clone != 0:
                    array.Delete(clone);
                    clone = 0;
                    cloneModel = null;
                    break;
            }
        }
        Recount();
    }

    private static void AssertContents(PersistentArray array, long root, List<uint> model)
    {
        var actual = new List<uint>();
        array.Walk(root, (_, values) =>
        {
            for (var i = 0; i < values.Length / 4; i++) actual.Add(BinaryPrimitives.ReadUInt32LittleEndian(values[(4 * i)..]));
        });
        Assert.Equal(model, actual);
    }
}
