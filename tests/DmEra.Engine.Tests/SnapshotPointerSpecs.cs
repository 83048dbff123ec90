using DmEra.Engine.Origin;
using DmEra.Engine.Tracking;
using DmEra.Metadata;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;

namespace DmEra.Engine.Tests;

/// <summary>
/// A garbage held-snapshot pointer in the superblock (issue 15 item 11): drop_metadata_snap is refused
/// with the kernel's words and the volume keeps running; the status line prints the pointer as the
/// kernel's %llu would, never as a negative number.
/// </summary>
public sealed class SnapshotPointerSpecs(ITestOutputHelper output) : EngineSpec(output)
{
    private const int B = 4096;

    public static TheoryData<string> Pointers() => ["all-ones", "beyond-device", "tree-node"];

    [Theory]
    [MemberData(nameof(Pointers))]
    public async Task A_garbage_held_snapshot_pointer_is_refused_by_drop_without_failing_the_volume(string kind)
    {
        var metadata = Memory(1024);
        var volume = await StartAsync(metadata, new MemoryDevice(64 * B));
        await Bounded(volume.StopAsync());
        var sb = EraSuperblock.Read(metadata);
        var pointer = kind switch
        {
            "all-ones" => -1L,                   // 18446744073709551615 on disk
            "beyond-device" => 5000L,
            _ => sb.WritesetTreeRoot,            // an allocated block that is not a superblock
        };
        var block = (sb with { MetadataSnap = pointer }).Pack();
        BlockValidator.Prepare(0, block, BlockKind.Superblock);
        metadata.Write(0, block);

        volume = await StartAsync(metadata, new MemoryDevice(64 * B));
        var status = await Bounded(volume.StatusAsync());
        Assert.EndsWith(" " + ((ulong)pointer).ToString(), status);

        var e = await Assert.ThrowsAsync<EraMessageException>(() => Bounded(volume.DropMetadataSnapAsync()));
        Assert.Contains("couldn't read lock superblock clone", e.Message);
        Assert.Equal(VolumeState.Running, volume.State);
        await Bounded(volume.WriteAsync(3 * B, Pattern(B, 3)));
        Assert.True(await Bounded(volume.CheckpointAsync()) > 0);
        Assert.Equal(VolumeState.Running, volume.State);
        await Bounded(volume.StopAsync());
        Assert.Equal(pointer, EraSuperblock.Read(metadata).MetadataSnap);
    }
}
