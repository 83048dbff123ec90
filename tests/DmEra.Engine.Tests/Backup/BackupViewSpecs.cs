using DmEra.Engine.Backup;
using DmEra.Engine.Tracking;

namespace DmEra.Engine.Tests.Backup;

/// <summary>The view alone (no actors): copy-before-write by 4 KiB chunk, reads that never see new contents and never hold a write, and breaking instead of failing writes.</summary>
public sealed class BackupViewSpecs : IDisposable
{
    private const int B = 4096;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("dmera-view-").FullName;
    private readonly MemoryDevice _origin = new(16 * B);
    private IBlockDevice Origin => _origin;

    private string StorePath => Path.Combine(_dir, "store");

    private BackupView NewView(long limit = 16 * B, ISavedCopyFile? store = null, Func<long, Memory<byte>, ValueTask>? readOrigin = null, List<string>? broken = null,
        uint blockSectors = 8)
    {
        var view = new BackupView(new BlockGeometry(blockSectors, 16 * B), readOrigin ?? Origin.ReadAsync, store ?? SavedCopyFile.Create(StorePath), limit, null, broken is null ? null : broken.Add);
        view.Start(heldRoot: 42, era: 3);
        return view;
    }

    private async Task WriteThroughAsync(BackupView view, long offset, byte value, int length)
    {
        await view.CopyBeforeWriteAsync(offset, length).AsTask().WaitAsync(Limit);
        await Origin.WriteAsync(offset, Enumerable.Repeat(value, length).ToArray());
    }

    /// <summary>Every 4 KiB chunk of the origin filled with its own byte (chunk index + 1), so a misplaced chunk shows.</summary>
    private async Task<byte[]> FillChunksAsync()
    {
        var image = Enumerable.Range(0, 16 * B).Select(i => (byte)(i / B + 1)).ToArray();
        await Origin.WriteAsync(0, image);
        return image;
    }

    private static async Task<byte[]> ReadAsync(BackupView view, long offset, int length)
    {
        var buffer = new byte[length];
        await view.ReadAsync(offset, buffer).AsTask().WaitAsync(Limit);
        return buffer;
    }

    [Fact]
    public async Task Overwritten_blocks_read_their_old_contents_and_the_rest_read_the_origin()
    {
        await Origin.WriteAsync(0, Enumerable.Repeat((byte)0xAA, 16 * B).ToArray());
        using var view = NewView();
        await WriteThroughAsync(view, B + 100, 0xBB, 2 * B);     // unaligned: blocks 1, 2 and 3 are saved whole
        await WriteThroughAsync(view, B + 200, 0xCC, 10);        // a second write to a saved block saves nothing more

        Assert.All(await ReadAsync(view, 0, 16 * B), b => Assert.Equal(0xAA, b));
        Assert.All(await ReadAsync(view, B + 50, 3000), b => Assert.Equal(0xAA, b));   // an unaligned read inside a saved block
        Assert.Equal(3L * B, view.SavedBytes);
        Assert.True(view.IsSaved(1) && view.IsSaved(3) && !view.IsSaved(0) && !view.IsSaved(4));
        Assert.Equal(0xBB, _origin[B + 100]);
        Assert.Equal(SavedCopyFile.HeaderBytes + 3L * B, new FileInfo(StorePath).Length);
        Assert.Equal(42, SavedCopyFile.ReadHeldRoot(StorePath));
    }

    [Fact]
    public async Task A_write_does_not_wait_for_a_view_read_of_its_block_and_the_read_still_returns_the_old_contents()
    {
        await Origin.WriteAsync(0, Enumerable.Repeat((byte)0xAA, 16 * B).ToArray());
        var gate = new StallingOrigin(_origin);
        using var view = NewView(readOrigin: gate.ReadAsync);
        gate.StallNextRead();
        var read = ReadAsync(view, 2 * B, B);                    // held before it reads the origin
        await gate.Stalled.WaitAsync(Limit);

        await WriteThroughAsync(view, 2 * B, 0xBB, B);           // saves and writes while the read is held
        Assert.Equal(0xBB, _origin[2 * B]);

        gate.Release();                                          // the read now finds the new contents on the origin
        Assert.All(await read.WaitAsync(Limit), b => Assert.Equal(0xAA, b));
        Assert.All(await ReadAsync(view, 2 * B, B), b => Assert.Equal(0xAA, b));
    }

    [Fact]
    public async Task A_write_into_a_larger_tracking_block_saves_only_the_chunks_it_covers_and_reads_assemble_them_with_the_origin()
    {
        var image = await FillChunksAsync();
        using var view = NewView(blockSectors: 32);              // 16 KiB tracking blocks: four 4 KiB chunks each
        await WriteThroughAsync(view, 9 * B, 0xBB, B);           // chunk 9 (block 2) lands in the first slot
        await WriteThroughAsync(view, 8 * B + 100, 0xCC, 10);    // chunk 8 in the second: slots out of origin order
        await WriteThroughAsync(view, B, 0xDD, B);               // chunk 1 of block 0, its other three chunks untouched

        Assert.Equal(3L * B, view.SavedBytes);
        Assert.Equal(SavedCopyFile.HeaderBytes + 3L * B, new FileInfo(StorePath).Length);
        Assert.Equal(image, await ReadAsync(view, 0, 16 * B));
        Assert.Equal(image[(B / 2)..(B / 2 + 3 * B)], await ReadAsync(view, B / 2, 3 * B));      // unaligned, saved and unsaved chunks
        Assert.Equal(image[(8 * B - 5)..(10 * B + 5)], await ReadAsync(view, 8 * B - 5, 2 * B + 10));
        Assert.Equal(((byte)0xDD, image[0], image[2 * B]), (_origin[B], _origin[0], _origin[2 * B]));
        Assert.Equal(((byte)0xCC, image[8 * B]), (_origin[8 * B + 100], _origin[8 * B]));
    }

    [Fact]
    public async Task An_unaligned_write_across_chunks_and_blocks_saves_each_chunk_it_touches_once()
    {
        var image = await FillChunksAsync();
        using var view = NewView(blockSectors: 32);
        await WriteThroughAsync(view, 4 * B - 100, 0xBB, 200);   // the last chunk of block 0 and the first of block 1
        Assert.Equal(2L * B, view.SavedBytes);
        await WriteThroughAsync(view, 3 * B + 1, 0xCC, 2 * B);   // chunks 3 and 4 (saved) and 5 (not yet)
        Assert.Equal(3L * B, view.SavedBytes);
        await WriteThroughAsync(view, 2 * B, 0xDD, 6 * B);       // chunks 2..7: 2, 6 and 7 saved, in two runs around 3..5
        Assert.Equal(6L * B, view.SavedBytes);

        Assert.True(view.AreAllSaved(2 * B, 6 * B));
        Assert.False(view.AreAllSaved(B, 2 * B));
        Assert.True(view.IsSaved(0) && view.IsSaved(1) && !view.IsSaved(2));
        Assert.Equal((2L * B, 8L * B), (view.NextSavedByte(0, 16 * B), view.NextUnsavedByte(2 * B + 1, 16 * B)));
        Assert.Equal(image, await ReadAsync(view, 0, 16 * B));
        Assert.Equal(image[(3 * B - 7)..(6 * B + 7)], await ReadAsync(view, 3 * B - 7, 3 * B + 14));
    }

    [Fact]
    public async Task A_view_read_held_across_several_chunks_returns_the_old_contents_of_those_written_meanwhile()
    {
        var image = await FillChunksAsync();
        var gate = new StallingOrigin(_origin);
        using var view = NewView(blockSectors: 32, readOrigin: gate.ReadAsync);
        gate.StallNextRead();
        var read = ReadAsync(view, 0, 4 * B);                    // chunks 0..3 (block 0), held before the origin
        await gate.Stalled.WaitAsync(Limit);

        await WriteThroughAsync(view, 0, 0xBB, B);               // chunk 0 and part of chunk 2 are written meanwhile
        await WriteThroughAsync(view, 2 * B + 10, 0xCC, 100);
        Assert.Equal(((byte)0xBB, (byte)0xCC), (_origin[0], _origin[2 * B + 10]));

        gate.Release();
        Assert.Equal(image[..(4 * B)], await read.WaitAsync(Limit));
        Assert.Equal(image, await ReadAsync(view, 0, 16 * B));
    }

    [Fact]
    public async Task A_view_read_during_a_save_of_a_chunk_it_covers_returns_the_old_contents_before_the_write()
    {
        var image = await FillChunksAsync();
        var gate = new StallingOrigin(_origin);
        using var view = NewView(blockSectors: 32, readOrigin: gate.ReadAsync);
        gate.StallNextRead();
        var write = WriteThroughAsync(view, 5 * B, 0xBB, B);     // its save of chunk 5 (block 1) is held reading the old contents
        await gate.Stalled.WaitAsync(Limit);

        Assert.Equal(image[(4 * B)..(8 * B)], await ReadAsync(view, 4 * B, 4 * B));   // the origin still holds them
        await Task.Delay(100);
        Assert.False(write.IsCompleted, "a write passed the save of its chunk");

        gate.Release();
        await write.WaitAsync(Limit);
        Assert.Equal(image[(4 * B)..(6 * B)], await ReadAsync(view, 4 * B, 2 * B));
        Assert.Equal(0xBB, _origin[5 * B]);
    }

    [Fact]
    public async Task A_full_store_breaks_the_view_but_never_the_write()
    {
        var broken = new List<string>();
        using var view = NewView(limit: 2 * B, broken: broken);
        await WriteThroughAsync(view, 0, 0xBB, 4 * B);   // two blocks fit, the third breaks the view; the write goes on

        Assert.All(Enumerable.Range(0, 4 * B).Select(i => _origin[i]), b => Assert.Equal(0xBB, b));
        Assert.StartsWith("saved-copy store full", view.BrokenReason);
        Assert.Equal([view.BrokenReason!], broken);
        var e = await Assert.ThrowsAsync<BackupViewBrokenException>(() => ReadAsync(view, 8 * B, B));
        Assert.Contains("saved-copy store full", e.Message);
        Assert.Equal(SavedCopyFile.HeaderBytes, new FileInfo(StorePath).Length);   // its space is given back
        await WriteThroughAsync(view, 8 * B, 0xCC, B);   // and later writes pass without saving
        Assert.Equal(0xCC, _origin[8 * B]);
    }

    [Fact]
    public async Task A_break_gives_the_store_space_back_only_after_a_save_in_flight_has_written_its_slot()
    {
        var store = new StallingStore(SavedCopyFile.Create(StorePath));
        using var view = NewView(limit: 2 * B, store: store);
        store.StallNextWrite();
        var first = WriteThroughAsync(view, 0, 0xBB, B);         // its save holds slot 0, stalled in the store write
        await store.Stalled.WaitAsync(Limit);

        await WriteThroughAsync(view, 4 * B, 0xCC, 2 * B);       // two more slots do not fit: the view breaks, the write goes on
        Assert.StartsWith("saved-copy store full", view.BrokenReason);
        Assert.Equal(0xCC, _origin[4 * B]);

        store.Unstall();                                         // the stalled save now writes its slot
        await first.WaitAsync(Limit);
        Assert.Equal(0xBB, _origin[0]);
        Assert.Equal(SavedCopyFile.HeaderBytes, new FileInfo(StorePath).Length);   // truncated after it, not before
        await Assert.ThrowsAsync<BackupViewBrokenException>(() => ReadAsync(view, 0, B));
    }

    [Fact]
    public async Task Saves_queued_behind_one_under_way_reach_the_store_in_one_write_of_their_adjacent_slots()
    {
        var image = await FillChunksAsync();
        var store = new StallingStore(SavedCopyFile.Create(StorePath));
        using var view = NewView(store: store);
        store.StallNextWrite();
        var first = WriteThroughAsync(view, 0, 0xBB, B);         // slot 0, held in the store write
        await store.Stalled.WaitAsync(Limit);
        var queued = new[] { 5, 9, 2 }.Select(c => WriteThroughAsync(view, c * B, 0xCC, B)).ToArray();   // slots 1, 2 and 3, meanwhile
        await Task.Delay(100);
        Assert.DoesNotContain(queued, w => w.IsCompleted);

        store.Unstall();
        await Task.WhenAll(queued.Append(first)).WaitAsync(Limit);
        Assert.Equal([(SavedCopyFile.HeaderBytes, B), (SavedCopyFile.HeaderBytes + B, 3 * B)], store.Writes);
        Assert.Equal(image, await ReadAsync(view, 0, 16 * B));
        Assert.Equal(((byte)0xBB, (byte)0xCC, (byte)0xCC), (_origin[0], _origin[5 * B], _origin[2 * B]));
    }

    [Fact]
    public async Task A_failing_store_breaks_the_view_with_its_error_and_the_write_goes_on()
    {
        using var view = NewView(store: new FailingStore(SavedCopyFile.Create(StorePath)));
        await WriteThroughAsync(view, 0, 0xBB, B);

        Assert.Equal(0xBB, _origin[0]);
        Assert.Contains("No space left on device", view.BrokenReason);
        await Assert.ThrowsAsync<BackupViewBrokenException>(() => ReadAsync(view, 4 * B, B));
    }

    [Fact]
    public async Task Dropping_the_view_fails_its_readers_and_deletes_its_file()
    {
        var view = NewView();
        await WriteThroughAsync(view, 0, 0xBB, B);
        view.Drop();
        Assert.False(File.Exists(StorePath));
        var e = await Assert.ThrowsAsync<BackupViewBrokenException>(() => ReadAsync(view, 0, B));
        Assert.Contains("dropped", e.Message);
    }

    [Fact]
    public void A_stopped_volume_leaves_the_file_for_the_next_start_which_finds_the_held_root()
    {
        var view = NewView();
        view.Dispose();
        Assert.Equal(42, SavedCopyFile.ReadHeldRoot(StorePath));
        Assert.Null(SavedCopyFile.ReadHeldRoot(Path.Combine(_dir, "none")));
    }

    private sealed class FailingStore(SavedCopyFile inner) : ISavedCopyFile
    {
        public string Path => inner.Path;
        public void WriteHeader(long heldRoot, uint era) => inner.WriteHeader(heldRoot, era);
        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data) => throw new IOException("No space left on device");
        public ValueTask ReadAsync(long offset, Memory<byte> buffer) => inner.ReadAsync(offset, buffer);
        public void Release() => inner.Release();
        public void Delete() => inner.Delete();
        public void Dispose() => inner.Dispose();
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
