using CsCheck;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Tests.PersistentData;

public sealed class BitsetModelTests
{
    [Fact]
    public void Set_bits_are_exactly_the_bits_tested_set_across_commits_and_a_shared_clone()
    {
        Gen.Select(Gen.UInt[1, 200_000], Gen.UInt[0, uint.MaxValue].Array[0, 300].Array[1, 6])
            .Sample((nrBits, batches) =>
            {
                var h = new PdataHarness();
                var bitset = new PersistentBitset(h.Tm);
                var root = bitset.CreateEmpty(nrBits);
                var model = new HashSet<uint>();
                long clone = 0;
                HashSet<uint>? cloneModel = null;
                foreach (var batch in batches)
                {
                    var bits = batch.Select(b => b % nrBits).Order().ToArray();
                    root = bitset.SetBits(root, bits);
                    model.UnionWith(bits);
                    var (r, c) = (root, clone);
                    h.CommitAndRecount(w =>
                    {
                        w.WalkArray(r, 8, PersistentBitset.WordCount(nrBits), "live", (_, _) => { });
                        if (c != 0) w.WalkArray(c, 8, PersistentBitset.WordCount(nrBits), "clone", (_, _) => { });
                    });
                    if (clone == 0)
                    {
                        h.Tm.ShareRoot(root);
                        clone = root;
                        cloneModel = [.. model];
                    }
                }
                foreach (var bit in model) Assert.True(bitset.Test(root, bit));
                foreach (var bit in cloneModel!) Assert.True(bitset.Test(clone, bit));
                var rng = new Random((int)nrBits);
                for (var i = 0; i < 200; i++)
                {
                    var bit = (uint)rng.NextInt64(nrBits);
                    Assert.Equal(model.Contains(bit), bitset.Test(root, bit));
                    Assert.Equal(cloneModel.Contains(bit), bitset.Test(clone, bit));
                }
            }, iter: 30);
    }

    [Fact]
    public void Setting_k_bits_in_a_16M_bit_bitset_writes_blocks_in_proportion_to_k_not_to_the_size()
    {
        var h = new PdataHarness(16384);
        var bitset = new PersistentBitset(h.Tm);
        var root = bitset.CreateEmpty(1u << 24);
        h.CommitAndRecount(w => w.WalkArray(root, 8, PersistentBitset.WordCount(1u << 24), "bitset", (_, _) => { }));
        var before = h.Tm.Blocks.BlocksWritten;
        // 8 bits far apart: each copies one shared array block and shadows a short btree path.
        root = bitset.SetBits(root, [0, 2_000_000, 4_000_000, 6_000_000, 8_000_000, 10_000_000, 12_000_000, 16_000_000]);
        h.CommitAndRecount(w => w.WalkArray(root, 8, PersistentBitset.WordCount(1u << 24), "bitset", (_, _) => { }));
        var written = h.Tm.Blocks.BlocksWritten - before;
        // 8 array blocks + btree leaves/root (≤ 8 + 2) + space-map index/bitmap/ref-count nodes + superblock.
        Assert.InRange(written, 8, 30);
    }
}
