using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Tests.Era;

/// <summary>
/// Activation checks what it relies on (issue 15 item 2): a superblock whose block count disagrees with
/// its era array, or whose tree roots are not the trees, is refused with the damaged block named instead
/// of being taken as a resize or walked into.
/// </summary>
public sealed class ActivationCheckTests
{
    private static MetadataDevice Made(uint nrBlocks = 5000)
    {
        var device = MetadataDevice.InMemory(512);
        var md = EraMetadata.Open(device, 8);
        md.Resize(nrBlocks);
        md.Rollover();
        md.MarkBlocks(new[] { 1 % nrBlocks, 4000 % nrBlocks }.Distinct().Order().ToArray());
        md.Commit();
        md.Rollover();
        md.Commit();
        return device;
    }

    private static void Forge(MetadataDevice device, Func<EraSuperblock, EraSuperblock> edit)
    {
        var block = edit(EraSuperblock.Read(device)).Pack();
        BlockValidator.Prepare(0, block, BlockKind.Superblock);
        device.Write(0, block);
    }

    [Fact]
    public void A_lowered_block_count_with_a_good_checksum_is_refused_not_taken_as_a_resize()
    {
        var device = Made();
        Forge(device, sb => sb with { NrBlocks = 1600 });
        var e = Assert.Throws<CorruptBlockException>(() => EraMetadata.Open(device, 8));
        Assert.Equal(0, e.Block);
        Assert.Contains("nr_blocks 1600", e.Message);
        Assert.Contains("5000 entries", e.Message);
    }

    [Fact]
    public void A_raised_block_count_is_refused_too()
    {
        var device = Made();
        Forge(device, sb => sb with { NrBlocks = 9000 });
        Assert.Contains("nr_blocks 9000", Assert.Throws<CorruptBlockException>(() => EraMetadata.Open(device, 8)).Message);
    }

    [Fact]
    public void Tree_roots_that_are_not_btree_nodes_or_are_shared_are_refused_naming_the_block()
    {
        var device = Made();
        var sb = EraSuperblock.Read(device);
        Forge(device, s => s with { WritesetTreeRoot = s.EraArrayRoot });
        Assert.Contains($"{sb.EraArrayRoot}", Assert.Throws<CorruptBlockException>(() => EraMetadata.Open(device, 8)).Message);

        device = Made();
        Forge(device, s => s with { EraArrayRoot = s.SpaceMapRoot.IndexLocation });
        var e = Assert.Throws<CorruptBlockException>(() => EraMetadata.Open(device, 8));
        Assert.Equal(sb.SpaceMapRoot.IndexLocation, e.Block);

        device = Made();
        Forge(device, s => s with { WritesetTreeRoot = 100_000 });
        Assert.Contains("100000", Assert.Throws<CorruptBlockException>(() => EraMetadata.Open(device, 8)).Message);
    }

    [Fact]
    public void A_current_writeset_whose_bitset_is_shorter_than_its_bits_is_refused()
    {
        var device = Made();
        Forge(device, s => s with { CurrentWriteset = s.CurrentWriteset with { NrBits = 100_000 } });
        Assert.Contains("current writeset", Assert.Throws<CorruptBlockException>(() => EraMetadata.Open(device, 8)).Message);
    }

    [Fact]
    public void Consistent_metadata_still_opens_at_every_size_including_empty()
    {
        foreach (var n in new uint[] { 1, 1018, 1019, 5000 })
            using (EraMetadata.Open(Made(n), 8)) { }
        using (EraMetadata.Open(MetadataDevice.InMemory(64), 8)) { }
    }
}
