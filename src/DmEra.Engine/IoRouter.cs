using System.Runtime.CompilerServices;
using Akka.Actor;
using DmEra.Engine.Actors;
using DmEra.Storage.Devices;
using DmEra.Engine.Tracking;

namespace DmEra.Engine;

/// <summary>
/// The I/O router: decides for every request, on the caller's thread, before any actor hop. Reads,
/// flushes and writes whose blocks are all marked in the current era go straight to the origin (the
/// lock-free in-core bits; never queued behind a commit). A write, trim or write-zeroes touching any
/// unmarked block first sends a <see cref="MetadataWriter.FirstWrite"/> and waits for the durable commit.
/// Every request passes the volume's one <see cref="WriteGate"/> once: it counts what is in flight (for a stop)
/// and holds writes for a group checkpoint.
/// </summary>
internal sealed class IoRouter
{
    private readonly string _name;
    private readonly IBlockDevice _origin;
    private readonly EraTracker _tracker;
    private readonly IActorRef _writer;
    private readonly Backup.BackupViewSlot _views;
    // Back-pressure: at most this many first-writes wait for commits; more callers wait here, in their own
    // async flow, instead of growing the writer's mailbox without bound.
    private readonly SemaphoreSlim _firstWriteSlots;
    private readonly WriteGate _gate;

    public IoRouter(string name, BlockGeometry geometry, IBlockDevice origin, EraTracker tracker, IActorRef writer, int maxPendingFirstWrites,
        Backup.BackupViewSlot? views = null, WriteGate? gate = null)
    {
        _views = views ?? new Backup.BackupViewSlot();
        _name = name;
        Geometry = geometry;
        _origin = origin;
        _tracker = tracker;
        _writer = writer;
        _firstWriteSlots = new SemaphoreSlim(maxPendingFirstWrites, maxPendingFirstWrites);
        _gate = gate ?? new WriteGate(name);
    }

    public WriteGate Gate => _gate;

    public BlockGeometry Geometry { get; }
    public bool IsStopping => _gate.IsStopping;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer)
    {
        Geometry.CheckRange(offset, buffer.Length);
        Enter();
        var exitHere = true;
        try
        {
            var read = _origin.ReadAsync(offset, buffer);
            if (read.IsCompletedSuccessfully)
            {
                read.GetAwaiter().GetResult();
                return ValueTask.CompletedTask;
            }
            exitHere = false;
            return FinishAsync(read);
        }
        finally
        {
            if (exitHere) Exit();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]   // no allocation per request
    private async ValueTask FinishAsync(ValueTask operation)
    {
        try { await operation.ConfigureAwait(false); }
        finally { Exit(); }
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua)
    {
        Geometry.CheckRange(offset, data.Length);
        if (!TryEnterWrite()) return WriteWhenReleasedAsync(offset, data, fua);
        var exitHere = true;
        try
        {
            // The steady state (every block marked, the origin completing synchronously, no FUA) runs
            // without an async state machine: this is the path that must cost next to nothing.
            var mark = MarkAsync(offset, data.Length);
            if (!mark.IsCompletedSuccessfully)
            {
                exitHere = false;
                return AfterMarkWriteAsync(mark, offset, data, fua);
            }
            var write = _origin.WriteAsync(offset, data);
            if (write.IsCompletedSuccessfully && !fua)
            {
                write.GetAwaiter().GetResult();
                return ValueTask.CompletedTask;
            }
            exitHere = false;
            return FinishWriteAsync(write, fua);
        }
        finally
        {
            if (exitHere) Exit();
        }
    }

    /// <summary>A write that found writes held (a group checkpoint): it enters once they are released.</summary>
    private async ValueTask WriteWhenReleasedAsync(long offset, ReadOnlyMemory<byte> data, bool fua)
    {
        await EnterWriteAsync().ConfigureAwait(false);
        await AfterMarkWriteAsync(MarkAsync(offset, data.Length), offset, data, fua).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]   // no allocation per request
    private async ValueTask AfterMarkWriteAsync(ValueTask mark, long offset, ReadOnlyMemory<byte> data, bool fua)
    {
        try
        {
            await mark.ConfigureAwait(false);
            await _origin.WriteAsync(offset, data).ConfigureAwait(false);
            if (fua) await _origin.FlushAsync().ConfigureAwait(false);
        }
        finally { Exit(); }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]   // no allocation per request
    private async ValueTask FinishWriteAsync(ValueTask write, bool fua)
    {
        try
        {
            await write.ConfigureAwait(false);
            if (fua) await _origin.FlushAsync().ConfigureAwait(false);
        }
        finally { Exit(); }
    }

    public async ValueTask TrimAsync(long offset, long length, bool fua)
    {
        Geometry.CheckRange(offset, length);
        await EnterWriteAsync().ConfigureAwait(false);
        try
        {
            await MarkAsync(offset, length).ConfigureAwait(false);
            await _origin.TrimAsync(offset, length).ConfigureAwait(false);
            if (fua) await _origin.FlushAsync().ConfigureAwait(false);
        }
        finally { Exit(); }
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, bool fua)
    {
        Geometry.CheckRange(offset, length);
        await EnterWriteAsync().ConfigureAwait(false);
        try
        {
            await MarkAsync(offset, length).ConfigureAwait(false);
            await _origin.WriteZeroesAsync(offset, length).ConfigureAwait(false);
            if (fua) await _origin.FlushAsync().ConfigureAwait(false);
        }
        finally { Exit(); }
    }

    /// <summary>NBD_CMD_FLUSH: only the origin. Metadata was already durable before any tracked write was issued.</summary>
    public async ValueTask FlushAsync()
    {
        Enter();
        try { await _origin.FlushAsync().ConfigureAwait(false); }
        finally { Exit(); }
    }

    /// <summary>
    /// Returns once every block of the range is durably marked in the current era. The fast path is a
    /// read of the in-core bits: set bits are durable (set only after their commit).
    /// </summary>
    private ValueTask MarkAsync(long offset, long length)
    {
        if (length == 0) return ValueTask.CompletedTask;
        var (first, last) = Geometry.BlocksOf(offset, length);
        var view = _views.Current;
        return _tracker.Current.AreAllMarked(first, last) && (view is null || view.AreAllSaved(offset, length))
            ? ValueTask.CompletedTask
            : SlowMarkAsync(first, last, offset, length, view);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SlowMarkAsync(uint first, uint last, long offset, long length, Backup.BackupView? view)
    {
        // A held backup view: the first write to a 4 KiB chunk since the instant reaches the origin only after
        // the chunk's old contents are in the saved copy. Chunks are finer than tracking blocks, so a write to a
        // block already marked in this era may still have a chunk to save: the fast path above asks the view on
        // every write (a lock-free bitmap test), and such a write saves here without any commit. A first write
        // to a block saves beside its commit (both must finish before this returns and the write goes on), so it
        // waits for the longer of the two, not their sum; a block marked by the commit before its save finished
        // is not written past the save, since the fast path checks the saved bits as well as the marks.
        var save = view is null ? ValueTask.CompletedTask : view.CopyBeforeWriteAsync(offset, length);
        try
        {
            if (!_tracker.Current.AreAllMarked(first, last)) await CommitMarksAsync(first, last).ConfigureAwait(false);
        }
        finally
        {
            await save.ConfigureAwait(false);   // never throws: a failed save breaks the view, not the write
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask CommitMarksAsync(uint first, uint last)
    {
        await _firstWriteSlots.WaitAsync().ConfigureAwait(false);
        try
        {
            // Completed by FirstWriteRelease on a thread-pool thread, never on the writer's pinned thread.
            var durable = new TaskCompletionSource();
            _writer.Tell(new MetadataWriter.FirstWrite(first, last, durable, System.Diagnostics.Stopwatch.GetTimestamp()));
            await durable.Task.ConfigureAwait(false);
        }
        finally { _firstWriteSlots.Release(); }
    }

    /// <summary>Enters the gate for a write, or false when writes are held; refuses writes to failed metadata.</summary>
    private bool TryEnterWrite()
    {
        if (!_gate.TryEnterWrite()) return false;
        if (_tracker.Failure is { } failure)
        {
            _gate.Leave();
            throw new VolumeFailedException($"volume {_name} has failed metadata and refuses writes: {failure.Message}", failure);
        }
        return true;
    }

    private ValueTask EnterWriteAsync() => TryEnterWrite() ? ValueTask.CompletedTask : WaitThenEnterWriteAsync();

    private async ValueTask WaitThenEnterWriteAsync()
    {
        do await _gate.WritesReleased.ConfigureAwait(false);
        while (!TryEnterWrite());
    }

    private void Enter() => _gate.EnterRead();

    private void Exit() => _gate.Leave();

    /// <summary>Refuses new requests and completes when the ones in flight have finished.</summary>
    public Task StopAndDrainAsync() => _gate.StopAndDrainAsync();
}
