using DmEra.Engine.Backup;
using DmEra.Engine.Tracking;
using DmEra.Metadata.Era;

namespace DmEra.Engine.Tests.Backup;

/// <summary>take_backup_snap / drop_backup_snap through the real actors on in-memory devices.</summary>
public sealed class BackupSnapshotSpecs(ITestOutputHelper output) : EngineSpec(output)
{
    private const int B = 4096;
    private readonly string _dir = Directory.CreateTempSubdirectory("dmera-viewspec-").FullName;
    private string Store => Path.Combine(_dir, "v.backup");

    [Fact]
    public async Task The_view_holds_the_instant_while_the_volume_moves_on()
    {
        var origin = new MemoryDevice(64 * B);
        var volume = await StartAsync(Memory(), origin);
        await Bounded(volume.WriteAsync(0, Enumerable.Repeat((byte)0xAA, 8 * B).ToArray()));
        var since = volume.CurrentEra;
        var view = await Bounded(volume.TakeBackupSnapAsync(since, Store, 64 * B));

        Assert.Equal(since, view.Era);
        Assert.Equal(since + 1, volume.CurrentEra);
        Assert.Matches($@"^8 \d+/1024 {since + 1} {view.HeldRoot}$", await Bounded(volume.StatusAsync()));
        await Bounded(volume.WriteAsync(2 * B, Enumerable.Repeat((byte)0xBB, 2 * B).ToArray()));
        await Bounded(volume.TrimAsync(5 * B, B));
        await Bounded(volume.CheckpointAsync());                       // a later era finds the blocks saved
        await Bounded(volume.WriteAsync(2 * B, Enumerable.Repeat((byte)0xCC, B).ToArray()));

        var copy = new byte[8 * B];
        await Bounded(view.ReadAsync(0, copy));
        Assert.All(copy, b => Assert.Equal(0xAA, b));
        Assert.Equal(0xCC, origin[2 * B]);
        Assert.Equal(3L * B, view.SavedBytes);

        // Era answers are the instant's: the writes after it are not in them.
        var eras = await Bounded(volume.GetViewErasAsync(view, 0, 16));
        Assert.Equal(Enumerable.Repeat(since, 8).Concat(Enumerable.Repeat(0u, 8)), eras);
        var live = await Bounded(volume.GetBlockErasAsync(2, 1));
        Assert.Equal(volume.CurrentEra, live[0]);

        await Bounded(volume.DropBackupSnapAsync());
        Assert.Null(volume.BackupView);
        Assert.False(File.Exists(Store));
        Assert.Matches(@" -$", await Bounded(volume.StatusAsync()));
        await Assert.ThrowsAsync<BackupViewBrokenException>(() => view.ReadAsync(0, new byte[B]).AsTask());
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task A_second_view_a_view_beside_a_metadata_snapshot_and_a_drop_of_nothing_are_refused()
    {
        var volume = await StartAsync(Memory(), new MemoryDevice(64 * B));
        var view = await Bounded(volume.TakeBackupSnapAsync(null, Store, 64 * B));
        var second = await Assert.ThrowsAsync<EraMessageException>(() => Bounded(volume.TakeBackupSnapAsync(null, Path.Combine(_dir, "other"), 64 * B)));
        Assert.Equal("backup view already exists", second.Message);
        Assert.False(File.Exists(Path.Combine(_dir, "other")));
        var metadataSnap = await Assert.ThrowsAsync<EraMessageException>(() => Bounded(volume.TakeMetadataSnapAsync()));
        Assert.Equal("metadata snapshot already exists", metadataSnap.Message);
        var dropUnder = await Assert.ThrowsAsync<EraMessageException>(() => Bounded(volume.DropMetadataSnapAsync()));
        Assert.Contains("use drop_backup_snap", dropUnder.Message);
        Assert.Same(view, volume.BackupView);

        await Bounded(volume.DropBackupSnapAsync());
        var none = await Assert.ThrowsAsync<EraMessageException>(() => Bounded(volume.DropBackupSnapAsync()));
        Assert.Equal("no backup view to drop", none.Message);

        await Bounded(volume.TakeMetadataSnapAsync());
        var beside = await Assert.ThrowsAsync<EraMessageException>(() => Bounded(volume.TakeBackupSnapAsync(null, Store, 64 * B)));
        Assert.Equal("metadata snapshot already exists", beside.Message);
        Assert.False(File.Exists(Store));
        await Assert.ThrowsAsync<EraMessageException>(() => Bounded(volume.TakeBackupSnapAsync(volume.CurrentEra + 1, Store, 64 * B)));
        Assert.Equal(VolumeState.Running, volume.State);
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task After_a_stop_with_a_view_held_the_next_start_drops_its_snapshot_and_file()
    {
        var metadata = Memory();
        var volume = await StartAsync(metadata, new MemoryDevice(64 * B));
        var view = await Bounded(volume.TakeBackupSnapAsync(null, Store, 64 * B));
        await Bounded(volume.StopAsync());
        Assert.True(File.Exists(Store));

        var again = await StartAsync(metadata, new MemoryDevice(64 * B));
        Assert.Matches($@" {view.HeldRoot}$", await Bounded(again.StatusAsync()));
        var cleaned = await Bounded(again.DiscardStaleBackupViewAsync(Store));
        Assert.Contains($"held root {view.HeldRoot}", cleaned);
        Assert.False(File.Exists(Store));
        Assert.Matches(@" -$", await Bounded(again.StatusAsync()));
        Assert.Null(await Bounded(again.DiscardStaleBackupViewAsync(Store)));
        await Bounded(again.TakeBackupSnapAsync(null, Store, 64 * B));
        await Bounded(again.StopAsync());
    }

    [Fact]
    public async Task A_stale_file_never_drops_a_metadata_snapshot_that_is_not_the_views()
    {
        var volume = await StartAsync(Memory(), new MemoryDevice(64 * B));
        SavedCopyFile.Create(Store).Dispose();   // a take that never got its snapshot: the header names none
        var root = await Bounded(volume.TakeMetadataSnapAsync());
        var cleaned = await Bounded(volume.DiscardStaleBackupViewAsync(Store));
        Assert.Contains("stays", cleaned);
        Assert.Matches($@" {root}$", await Bounded(volume.StatusAsync()));
        Assert.False(File.Exists(Store));
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task A_second_write_to_a_block_being_saved_waits_for_the_save_instead_of_taking_the_fast_path()
    {
        var origin = new StallingOrigin(64 * B);
        var volume = await StartAsync(Memory(), origin);
        await Bounded(volume.WriteAsync(2 * B, Enumerable.Repeat((byte)0xAA, B).ToArray()));
        var view = await Bounded(volume.TakeBackupSnapAsync(null, Store, 64 * B));

        origin.StallNextRead();
        var first = volume.WriteAsync(2 * B, Enumerable.Repeat((byte)0xBB, 512).ToArray()).AsTask();
        await origin.Stalled.WaitAsync(Limit);                        // its save is reading the old contents
        var second = volume.WriteAsync(2 * B + 1024, Enumerable.Repeat((byte)0xCC, 512).ToArray()).AsTask();
        await Task.Delay(200);
        Assert.False(second.IsCompleted, "a write reached a block whose old contents were still being saved");
        Assert.Equal(0xAA, origin.Inner[2 * B + 1024]);

        origin.Release();
        await Bounded(Task.WhenAll(first, second));
        var copy = new byte[B];
        await Bounded(view.ReadAsync(2 * B, copy));
        Assert.All(copy, b => Assert.Equal(0xAA, b));
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task A_first_write_commits_beside_its_save_and_a_block_marked_before_its_save_ends_is_not_written_past_it()
    {
        var origin = new StallingOrigin(64 * B);
        var volume = await StartAsync(Memory(), origin);
        await Bounded(volume.WriteAsync(2 * B, Enumerable.Repeat((byte)0xAA, B).ToArray()));
        var view = await Bounded(volume.TakeBackupSnapAsync(null, Store, 64 * B));

        origin.StallNextRead();
        var first = volume.WriteAsync(2 * B, Enumerable.Repeat((byte)0xBB, 512).ToArray()).AsTask();
        await origin.Stalled.WaitAsync(Limit);                        // its save is reading the old contents
        // The commit does not wait for the save: the block is marked in the current era while the save stalls.
        var marked = Task.Run(async () =>
        {
            while ((await volume.GetBlockErasAsync(2, 1))[0] != volume.CurrentEra) await Task.Delay(10);
        });
        await Bounded(marked);
        Assert.False(first.IsCompleted, "a first write finished before its block's old contents were saved");
        var second = volume.WriteAsync(2 * B + 1024, Enumerable.Repeat((byte)0xCC, 512).ToArray()).AsTask();
        await Task.Delay(200);
        Assert.False(second.IsCompleted, "a write to a marked block took the fast path past a save still under way");
        Assert.Equal(0xAA, origin.Inner[2 * B + 1024]);

        origin.Release();
        await Bounded(Task.WhenAll(first, second));
        var copy = new byte[B];
        await Bounded(view.ReadAsync(2 * B, copy));
        Assert.All(copy, b => Assert.Equal(0xAA, b));
        Assert.Equal(0xCC, origin.Inner[2 * B + 1024]);
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task A_write_to_a_block_already_marked_in_this_era_still_saves_a_chunk_it_overwrites_for_the_first_time()
    {
        var origin = new MemoryDevice(64 * B);
        var volume = await StartAsync(Memory(), origin, blockSizeSectors: 32);   // 16 KiB tracking blocks, four chunks each
        var image = Enumerable.Range(0, 16 * B).Select(i => (byte)(i / B + 1)).ToArray();
        await Bounded(volume.WriteAsync(0, image));
        var view = await Bounded(volume.TakeBackupSnapAsync(null, Store, 64 * B));

        await Bounded(volume.WriteAsync(B, Enumerable.Repeat((byte)0xBB, B).ToArray()));   // block 0's first write: marks it, saves chunk 1
        Assert.Equal(volume.CurrentEra, (await Bounded(volume.GetBlockErasAsync(0, 1)))[0]);
        Assert.Equal((long)B, view.SavedBytes);
        await Bounded(volume.WriteAsync(2 * B + 512, Enumerable.Repeat((byte)0xCC, 512).ToArray()));   // block 0 marked, chunk 2 not saved
        await Bounded(volume.WriteAsync(2 * B, Enumerable.Repeat((byte)0xDD, 512).ToArray()));         // chunk 2 saved: the fast path

        Assert.Equal(2L * B, view.SavedBytes);
        var copy = new byte[16 * B];
        await Bounded(view.ReadAsync(0, copy));
        Assert.Equal(image, copy);
        Assert.Equal(((byte)0xDD, (byte)0xCC, image[3 * B]), (origin[2 * B], origin[2 * B + 512], origin[3 * B]));
        await Bounded(volume.StopAsync());
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
