using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;
using DmEra.Metadata.Tests.PersistentData;

namespace DmEra.Metadata.Tests.Era;

/// <summary>
/// Kernel fix 64f2d15a ("dm era: Use correct value size in equality function of writeset tree"):
/// ws_eq compared 16 bytes (the in-core struct with padding) instead of the 12-byte packed value, so
/// overwriting a writeset entry with the very same value could look like a change and free the bitset
/// it still references. Here the 4 bytes after the overwritten value are the next entry's nr_bits,
/// which differ from anything the caller passes: a 16-byte comparison would drop the bitset.
/// </summary>
public sealed class KernelFix64f2d15aTests
{
    [Fact]
    public void Regression_64f2d15a_overwriting_a_writeset_with_an_identical_value_compares_12_bytes_and_keeps_its_bitset()
    {
        var h = new PdataHarness();
        var bitset = new PersistentBitset(h.Tm);
        var tree = new Btree(h.Tm, new WritesetValue(bitset));
        var first = new WritesetRoot(100, bitset.SetBits(bitset.CreateEmpty(100), [3, 99]));
        var second = new WritesetRoot(200, bitset.CreateEmpty(200));
        Span<byte> value = stackalloc byte[WritesetRoot.Size];
        var root = tree.CreateEmpty();
        first.Pack(value);
        root = tree.Insert(root, 1, value);
        second.Pack(value);
        root = tree.Insert(root, 2, value);
        h.CommitAndRecount(w => Walk(w, root));

        first.Pack(value);
        root = tree.Insert(root, 1, value);

        h.CommitAndRecount(w => Walk(w, root));
        Assert.True(bitset.Test(first.Root, 3));
        Assert.True(bitset.Test(first.Root, 99));
        Assert.False(bitset.Test(first.Root, 4));
    }

    private static void Walk(ReferenceWalker walker, long root) =>
        walker.WalkBtree(root, WritesetRoot.Size, "writeset tree", null, (_, v) =>
        {
            var ws = WritesetRoot.Unpack(v);
            walker.WalkArray(ws.Root, 8, PersistentBitset.WordCount(ws.NrBits), "bitset", null);
        });
}
