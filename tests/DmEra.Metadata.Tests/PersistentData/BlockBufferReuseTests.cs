using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Tests.PersistentData;

/// <summary>
/// The block manager reuses the buffers of dropped blocks (a commit's old copies) instead of leaving them
/// to the GC, but never while an operation may still hold one: only after the next WriteDirty.
/// </summary>
public sealed class BlockBufferReuseTests
{
    private const BlockKind Kind = BlockKind.SpaceMapIndex;   // a checksum and a location, no shape rules

    private static BlockManager WithBlocks(params long[] locations)
    {
        var blocks = new BlockManager(MetadataDevice.InMemory(64));
        foreach (var l in locations) blocks.WriteZeroed(l, Kind)[100] = (byte)l;
        blocks.WriteDirty();
        return blocks;
    }

    [Fact]
    public void A_buffer_dropped_in_an_operation_is_not_handed_out_again_in_it()
    {
        var blocks = WithBlocks(5);
        var held = blocks.Read(5, Kind);
        blocks.Forget(5);
        for (long l = 10; l < 20; l++)
        {
            var fresh = blocks.WriteZeroed(l, Kind);
            Assert.NotSame(held, fresh);
            fresh.AsSpan().Fill(0xEE);
        }
        Assert.Equal(5, held[100]);
    }

    [Fact]
    public void After_the_next_write_out_a_dropped_buffer_is_reused_zeroed()
    {
        var blocks = WithBlocks(5);
        var dropped = blocks.Read(5, Kind);
        blocks.Forget(5);
        blocks.WriteDirty();
        var reused = blocks.WriteZeroed(6, Kind);
        Assert.Same(dropped, reused);
        Assert.True(reused.AsSpan().IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void A_block_made_writable_gets_its_own_copy_and_the_cached_one_is_kept_until_write_out()
    {
        var blocks = WithBlocks(5);
        var before = blocks.Read(5, Kind);
        var writable = blocks.Write(5, Kind);
        Assert.NotSame(before, writable);
        writable[100] = 42;
        Assert.Equal(5, before[100]);
        blocks.WriteDirty();
        Assert.Equal(42, blocks.Read(5, Kind)[100]);
    }
}
