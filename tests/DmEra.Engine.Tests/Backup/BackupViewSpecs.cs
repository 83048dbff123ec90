using DmEra.Engine.Backup;
using DmEra.Engine.Tracking;

namespace DmEra.Engine.Tests.Backup;

/// <summary>The view alone (no actors): copy-before-write, the read/save interlock, and breaking instead of failing writes.</summary>
public sealed class BackupViewSpecs : IDisposable
{
    private const int B = 4096;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("dmera-view-").FullName;
    private readonly MemoryDevice _origin = new(16 * B);
    private IBlockDevice Origin => _origin;

    private string StorePath => Path.Combine(_dir, "store");

    private BackupView NewView(long limit = 16 * B, ISavedCopyFile? store = null, Func<long, Memory<byte>, ValueTask>? readOrigin = null, List<string>? broken = null)
    {
        var view = new BackupView(new BlockGeometry(8, 16 * B), readOrigin ?? Origin.ReadAsync, store ?? SavedCopyFile.Create(StorePath), limit, null, broken is null ? null : broken.Add);
        view.Start(heldRoot: 42, era: 3);
        return view;
    }

    private async Task WriteThroughAsync(BackupView view, long offset, byte value, int length)
    {
        var (first, last) = new BlockGeometry(8, 16 * B).BlocksOf(offset, length);
        await view.CopyBeforeWriteAsync(first, last).AsTask().WaitAsync(Limit);
        await Origin.WriteAsync(offset, Enumerable.Repeat(value, length).ToArray());
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
    public async Task A_save_waits_for_a_read_of_the_same_block_from_the_origin_and_later_reads_wait_for_the_save()
    {
        await Origin.WriteAsync(0, Enumerable.Repeat((byte)0xAA, 16 * B).ToArray());
        var readerInOrigin = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseReader = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stallNext = 1;
        async ValueTask GatedRead(long offset, Memory<byte> buffer)
        {
            if (Interlocked.Exchange(ref stallNext, 0) == 1)
            {
                readerInOrigin.TrySetResult();
                await releaseReader.Task;
            }
            await Origin.ReadAsync(offset, buffer);
        }
        using var view = NewView(readOrigin: GatedRead);

        var read = ReadAsync(view, 2 * B, B);
        await readerInOrigin.Task.WaitAsync(Limit);
        var write = WriteThroughAsync(view, 2 * B, 0xBB, B);
        await Task.Delay(200);
        Assert.False(write.IsCompleted, "the first write passed a read of its block in flight");

        releaseReader.TrySetResult();
        Assert.All(await read.WaitAsync(Limit), b => Assert.Equal(0xAA, b));
        await write.WaitAsync(Limit);
        Assert.All(await ReadAsync(view, 2 * B, B), b => Assert.Equal(0xAA, b));
        Assert.Equal(0xBB, _origin[2 * B]);
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
