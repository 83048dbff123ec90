using DmEra.Engine.Backup;
using DmEra.Engine.Tracking;
using Microsoft.Win32.SafeHandles;

namespace DmEra.Engine.Tests.Backup;

/// <summary>
/// A view's range lent from the origin file (sendfile): only where nothing was overwritten since the instant,
/// and a write to a lent chunk waits for the lease, which it recalls, even once the view is broken or dropped.
/// </summary>
public sealed class ViewOriginLeaseSpecs : IDisposable
{
    private const int B = 4096;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    // Long enough for a write that should wait to have finished had it not: a wrong pass shows, a slow machine cannot fail it.
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(200);
    private readonly string _dir = Directory.CreateTempSubdirectory("dmera-lease-").FullName;
    private readonly SafeFileHandle _origin;

    public ViewOriginLeaseSpecs()
    {
        _origin = File.OpenHandle(Path.Combine(_dir, "origin"), FileMode.CreateNew, FileAccess.ReadWrite);
        RandomAccess.Write(_origin, Enumerable.Repeat((byte)0xAA, 16 * B).ToArray(), 0);
    }

    private ValueTask ReadOrigin(long offset, Memory<byte> buffer)
    {
        RandomAccess.Read(_origin, buffer.Span, offset);
        return ValueTask.CompletedTask;
    }

    private BackupView NewView(ViewReadPacer? pacer = null, ISavedCopyFile? store = null, bool originIsFile = true)
    {
        var view = new BackupView(new BlockGeometry(8, 16 * B), ReadOrigin, store ?? SavedCopyFile.Create(Path.Combine(_dir, "store")), 16 * B, null,
            pacer: pacer, originFile: originIsFile ? _origin : null);
        view.Start(heldRoot: 42, era: 3);
        return view;
    }

    /// <summary>What the write path does: save, then write the origin.</summary>
    private async Task WriteThroughAsync(BackupView view, long offset, byte value)
    {
        await view.CopyBeforeWriteAsync(offset, B);
        RandomAccess.Write(_origin, Enumerable.Repeat(value, B).ToArray(), offset);
    }

    private static byte[] ReadFile(SafeFileHandle file, long offset, int length)
    {
        var buffer = new byte[length];
        RandomAccess.Read(file, buffer, offset);
        return buffer;
    }

    [Fact]
    public async Task A_write_to_a_lent_chunk_waits_for_the_lease_and_recalls_it_and_the_view_keeps_the_old_contents()
    {
        using var view = NewView();
        var lease = view.TryLeaseOrigin(0, 4 * B);
        Assert.NotNull(lease);
        Assert.False(lease.IsRecalled);

        var write = WriteThroughAsync(view, 2 * B, 0xBB);
        await Task.Delay(Settle);
        Assert.False(write.IsCompleted);                     // the chunk is being sent from the origin
        Assert.True(lease.IsRecalled);
        Assert.All(ReadFile(lease.File, lease.Offset, 4 * B), b => Assert.Equal(0xAA, b));

        lease.Dispose();
        await write.WaitAsync(Limit);
        Assert.Equal(0xBB, ReadFile(_origin, 2 * B, 1)[0]);
        var read = new byte[4 * B];
        await view.ReadAsync(0, read);
        Assert.All(read, b => Assert.Equal(0xAA, b));
        Assert.Equal((1L, 1L), view.LeaseCounts);
    }

    [Fact]
    public async Task A_write_beside_a_lent_range_does_not_wait()
    {
        using var view = NewView();
        using var lease = view.TryLeaseOrigin(0, 4 * B)!;
        await WriteThroughAsync(view, 4 * B, 0xBB).WaitAsync(Limit);
        Assert.False(lease.IsRecalled);
    }

    [Fact]
    public async Task A_range_with_a_chunk_saved_or_being_saved_is_not_lent()
    {
        var store = new StallingStore(SavedCopyFile.Create(Path.Combine(_dir, "store")));
        using var view = NewView(store: store);
        await WriteThroughAsync(view, 2 * B, 0xBB);
        Assert.Null(view.TryLeaseOrigin(0, 4 * B));          // chunk 2 holds new contents on the origin
        Assert.Null(view.TryLeaseOrigin(2 * B + 100, 10));

        store.StallNextWrite();
        var saving = WriteThroughAsync(view, 8 * B, 0xCC);
        await store.Stalled.WaitAsync(Limit);
        Assert.Null(view.TryLeaseOrigin(6 * B, 4 * B));      // chunk 8 is being saved: its write follows at once
        using (var beside = view.TryLeaseOrigin(4 * B, 4 * B)) Assert.NotNull(beside);
        store.Unstall();
        await saving.WaitAsync(Limit);
        Assert.Equal((1L, 0L), view.LeaseCounts);
    }

    [Fact]
    public async Task A_broken_view_lends_nothing_more_but_a_write_still_waits_for_a_lease_granted_before_the_break()
    {
        using var view = NewView();
        var lease = view.TryLeaseOrigin(0, 4 * B)!;
        view.Break("test break");
        Assert.Null(view.TryLeaseOrigin(8 * B, B));
        Assert.False(view.AreAllSaved(B, B));                // the write path must not pass unsaved while a lease is out

        var write = WriteThroughAsync(view, B, 0xBB);
        var unleased = view.Unleased;
        await Task.Delay(Settle);
        Assert.False(write.IsCompleted);
        Assert.False(unleased.IsCompleted);
        Assert.True(lease.IsRecalled);
        Assert.All(ReadFile(_origin, B, B), b => Assert.Equal(0xAA, b));

        lease.Dispose();
        await write.WaitAsync(Limit);
        await unleased.WaitAsync(Limit);
        Assert.True(view.AreAllSaved(B, B));                 // broken, nothing lent: writes pass unsaved
        Assert.Equal(0xBB, ReadFile(_origin, B, 1)[0]);
    }

    [Fact]
    public void Nothing_is_lent_while_reads_are_paced_or_when_the_origin_is_not_a_file()
    {
        var busy = true;
        using (var paced = NewView(new ViewReadPacer(0.1, () => busy)))
        {
            Assert.Null(paced.TryLeaseOrigin(0, 4 * B));
            busy = false;
            using var lease = paced.TryLeaseOrigin(0, 4 * B);
            Assert.NotNull(lease);
        }
        using var memory = NewView(originIsFile: false);
        Assert.Null(memory.TryLeaseOrigin(0, 4 * B));
        Assert.True(NewView().Unleased.IsCompleted);
    }

    public void Dispose()
    {
        _origin.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
