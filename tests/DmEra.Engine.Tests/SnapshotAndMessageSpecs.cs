using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;

namespace DmEra.Engine.Tests;

public sealed class SnapshotAndMessageSpecs(ITestOutputHelper output) : EngineSpec(output)
{
    private const int B = 4096;

    [Fact]
    public async Task Take_metadata_snap_rolls_over_holds_a_root_and_refuses_a_second_one()
    {
        var volume = await StartAsync(Memory(), new MemoryDevice(64 * B));
        await Bounded(volume.WriteAsync(0, new byte[B]));
        var root = await Bounded(volume.TakeMetadataSnapAsync());

        Assert.Equal(2u, volume.CurrentEra);
        Assert.Matches($@"^8 \d+/1024 2 {root}$", await Bounded(volume.StatusAsync()));
        var again = await Assert.ThrowsAsync<EraMessageException>(() => Bounded(volume.TakeMetadataSnapAsync()));
        Assert.Equal("metadata snapshot already exists", again.Message);
        Assert.Equal(2u, volume.CurrentEra);
        Assert.Equal(VolumeStateRunning, volume.State);

        await Bounded(volume.DropMetadataSnapAsync());
        Assert.Matches(@"^8 \d+/1024 2 -$", await Bounded(volume.StatusAsync()));
        var none = await Assert.ThrowsAsync<EraMessageException>(() => Bounded(volume.DropMetadataSnapAsync()));
        Assert.Equal("no snap to drop", none.Message);
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task The_snapshot_holds_every_write_made_before_it_and_none_after()
    {
        var metadata = MetadataDevice.InMemory(1024);
        var volume = await StartAsync(metadata, new MemoryDevice(64 * B));
        await Bounded(volume.WriteAsync(1 * B, new byte[1]));
        await Bounded(volume.CheckpointAsync());
        await Bounded(volume.WriteAsync(2 * B, new byte[1]));
        var root = await Bounded(volume.TakeMetadataSnapAsync());
        await Bounded(volume.WriteAsync(3 * B, new byte[1]));
        await Task.Delay(100);   // let the background digest run over the live trees

        // Read the clone superblock's two trees, as era_invalidate --metadata-snapshot does.
        var image = MetadataDevice.InMemory(1024);
        var block = new byte[4096];
        for (var i = 0; i < 1024; i++) { metadata.Read(i, block); image.Write(i, block); }
        using (var md = EraMetadata.Open(image, 8, mayFormat: false))
        {
            var clone = EraSuperblock.Unpack(md.Transactions.Read(root, BlockKind.Superblock));
            var eras = new uint[64];
            new PersistentArray(md.Transactions, 4).Walk(clone.EraArrayRoot, (index, values) =>
            {
                for (var i = 0; i < values.Length / 4; i++) eras[index * 1018 + i] = BitConverter.ToUInt32(values.Slice(i * 4, 4));
            });
            new Btree(md.Transactions, new PlainValue(WritesetRoot.Size)).Walk(clone.WritesetTreeRoot, (era, value) =>
            {
                var ws = WritesetRoot.Unpack(value);
                for (uint b = 0; b < 64; b++)
                    if (new PersistentBitset(md.Transactions).Test(ws.Root, b)) eras[b] = Math.Max(eras[b], (uint)era);
            });
            Assert.Equal(1u, eras[1]);
            Assert.Equal(2u, eras[2]);
            Assert.Equal(0u, eras[3]);
        }
        await Bounded(volume.StopAsync());
    }

    [Theory]
    [InlineData("CHECKPOINT")]
    [InlineData("Checkpoint")]
    [InlineData("  checkpoint ")]
    public async Task Messages_are_case_insensitive(string message)
    {
        var volume = await StartAsync(Memory(), new MemoryDevice(64 * B));
        await Bounded(volume.SendMessageAsync(message));
        Assert.Equal(2u, volume.CurrentEra);
        await Bounded(volume.SendMessageAsync("Take_Metadata_Snap"));
        await Bounded(volume.SendMessageAsync("DROP_METADATA_SNAP"));
        Assert.Matches(@"^8 \d+/1024 3 -$", await Bounded(volume.StatusAsync()));
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task An_unknown_message_gets_the_kernels_unsupported_message_error()
    {
        var volume = await StartAsync(Memory(), new MemoryDevice(64 * B));
        var e = await Assert.ThrowsAsync<EraMessageException>(() => Bounded(volume.SendMessageAsync("resize")));
        Assert.Equal("unsupported message 'resize'", e.Message);
        var two = await Assert.ThrowsAsync<EraMessageException>(() => Bounded(volume.SendMessageAsync("checkpoint now")));
        Assert.Equal("incorrect number of message arguments", two.Message);
        Assert.Equal(1u, volume.CurrentEra);
        await Bounded(volume.StopAsync());
    }

    private const DmEra.Engine.Tracking.VolumeState VolumeStateRunning = DmEra.Engine.Tracking.VolumeState.Running;
}
