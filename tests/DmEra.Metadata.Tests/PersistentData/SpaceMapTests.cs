using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Tests.PersistentData;

public sealed class SpaceMapTests
{
    [Fact]
    public void A_block_freed_in_a_transaction_is_not_reused_before_the_commit()
    {
        var h = new PdataHarness(64);
        var (a, _) = h.Tm.NewBlock(BlockKind.BtreeNode);
        h.CommitAndRecount(w => w.Ref(a));
        h.Tm.Dec(a);
        var seen = new HashSet<long>();
        for (var i = 0; i < 20; i++) seen.Add(h.SpaceMap.Allocate());
        Assert.DoesNotContain(a, seen);
    }

    [Fact]
    public void Running_out_of_blocks_throws_the_space_exhausted_error()
    {
        var h = new PdataHarness(16);
        Assert.Throws<MetadataSpaceExhaustedException>(() =>
        {
            for (var i = 0; i < 32; i++) h.SpaceMap.Allocate();
        });
    }

    [Fact]
    public void Counts_of_three_and_more_survive_the_round_trip_through_the_ref_count_btree()
    {
        var h = new PdataHarness(40_000);
        var blocks = Enumerable.Range(0, 500).Select(_ => h.Tm.NewBlock(BlockKind.ArrayBlock).Location).ToArray();
        for (var i = 0; i < blocks.Length; i++)
            for (var k = 0; k < i % 7; k++) h.Tm.Inc(blocks[i]);
        h.CommitAndRecount(w =>
        {
            for (var i = 0; i < blocks.Length; i++)
                for (var k = 0; k <= i % 7; k++) w.Ref(blocks[i]);
        });
        Assert.Equal(7u, h.SpaceMap.GetCount(blocks[6]));
    }

    [Fact]
    public void A_device_larger_than_the_format_allows_is_capped_at_4161600_blocks()
    {
        var sm = MetadataSpaceMap.CreateEmpty(5_000_000);
        Assert.Equal(4_161_600, sm.NrBlocks);
    }
}
