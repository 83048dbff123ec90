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
/// unmarked block first sends a <see cref="MetadataWriter.FirstWrite"/> and waits for the durable commit; a
/// write without FUA is answered at once instead and waits for it in the background (<see cref="PendingWrites"/>:
/// write-back, bounded by dmera.engine.write-back-bytes), still reaching the origin only after the commit.
/// Every request passes the volume's one <see cref="WriteGate"/> once: it counts what is in flight (for a stop)
/// and holds writes for a group checkpoint. A written-back write keeps its entry until it is on the origin, so
/// whatever waits for the gate to empty (a hold, a stop) waits for it too.
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
    private readonly PendingWrites _pending;
    private readonly Action<Exception> _onWriteBackFailure;

    public IoRouter(string name, BlockGeometry geometry, IBlockDevice origin, EraTracker tracker, IActorRef writer, int maxPendingFirstWrites,
        Backup.BackupViewSlot? views = null, WriteGate? gate = null, long writeBackBytes = 0, Action<Exception>? onWriteBackFailure = null)
    {
        _pending = new PendingWrites(writeBackBytes);
        _onWriteBackFailure = onWriteBackFailure ?? (static _ => { });
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
            if (!_pending.IsEmpty && _pending.Overlapping(offset, buffer.Length) is { } written)
            {
                exitHere = false;
                return FinishAsync(ReadAfterAsync(written, offset, buffer));
            }
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

    /// <summary>
    /// A read that its caller serves from the origin's file itself (sendfile): inside the gate like
    /// <see cref="ReadAsync"/>, until the lease is disposed. Null, the gate left, when an answered write not yet
    /// on the origin overlaps the range (<see cref="ReadAsync"/> waits for it; the file does not have it yet).
    /// </summary>
    public Origin.OriginFileRange? TryLeaseOrigin(Microsoft.Win32.SafeHandles.SafeFileHandle file, long offset, long length)
    {
        Geometry.CheckRange(offset, length);
        Enter();
        if (!_pending.IsEmpty && _pending.Overlapping(offset, length) is not null)
        {
            Exit();
            return null;
        }
        return new Origin.OriginFileRange(file, offset, _gate);
    }

    /// <summary>A read overlapping answered writes not yet on the origin returns their data: it reads once they are there.</summary>
    private async ValueTask ReadAfterAsync(Task written, long offset, Memory<byte> buffer)
    {
        await written.ConfigureAwait(false);
        await _origin.ReadAsync(offset, buffer).ConfigureAwait(false);
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
        return WriteEntered(offset, data, fua);
    }

    /// <summary>A write inside the gate; leaves it when the write is done (or, written back, when it is on the origin).</summary>
    private ValueTask WriteEntered(long offset, ReadOnlyMemory<byte> data, bool fua)
    {
        var exitHere = true;
        try
        {
            // An answered write not yet on the origin overlapping this one: the client saw it done, so this
            // one lands after it. The check is one volatile read while nothing is pending.
            if (!_pending.IsEmpty && _pending.Overlapping(offset, data.Length) is { } earlier)
            {
                exitHere = false;
                return WriteAfterAsync(earlier, offset, data, fua);
            }
            // The steady state (every block marked, the origin completing synchronously, no FUA) runs
            // without an async state machine: this is the path that must cost next to nothing.
            var mark = MarkAsync(offset, data.Length);
            if (!mark.IsCompletedSuccessfully)
            {
                exitHere = false;
                // Write-back: a write without FUA is answered now; its data, copied, follows its commit. FUA
                // promises durability when answered, and past the cap a write waits for its commit as ever.
                if (!fua && !mark.IsCompleted && _pending.TryAdd(offset, data) is { } entry)
                {
                    _ = WriteBackAsync(entry, mark);
                    return ValueTask.CompletedTask;
                }
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
        await WriteEntered(offset, data, fua).ConfigureAwait(false);
    }

    private async ValueTask WriteAfterAsync(Task earlier, long offset, ReadOnlyMemory<byte> data, bool fua)
    {
        await earlier.ConfigureAwait(false);   // never faults: a failed write-back is reported at the next FLUSH
        await WriteEntered(offset, data, fua).ConfigureAwait(false);
    }

    /// <summary>
    /// An answered write's way to the origin: after the commit of its marks (and a held backup view's save of
    /// the old contents, both inside <paramref name="mark"/>), never before. It leaves the gate only then.
    /// </summary>
    private async Task WriteBackAsync(PendingWrites.Entry entry, ValueTask mark)
    {
        Exception? error = null;
        try
        {
            await mark.ConfigureAwait(false);
            await _origin.WriteAsync(entry.Offset, entry.Data).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            error = e;
        }
        finally
        {
            if (_pending.Complete(entry, error)) _onWriteBackFailure(error!);
            Exit();
        }
    }

    /// <summary>Completes when every write answered before the call is on the origin (or has failed there).</summary>
    public Task PendingWritten() => _pending.All() ?? Task.CompletedTask;

    /// <summary>Completes when every write answered before the call that overlaps the range is on the origin.</summary>
    public Task OnOrigin(long offset, long length) => _pending.Overlapping(offset, length) ?? Task.CompletedTask;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]   // no allocation per request
    private async ValueTask AfterMarkWriteAsync(ValueTask mark, long offset, ReadOnlyMemory<byte> data, bool fua)
    {
        try
        {
            await mark.ConfigureAwait(false);
            await _origin.WriteAsync(offset, data).ConfigureAwait(false);
            if (fua) await FlushOriginAsync().ConfigureAwait(false);
        }
        finally { Exit(); }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]   // no allocation per request
    private async ValueTask FinishWriteAsync(ValueTask write, bool fua)
    {
        try
        {
            await write.ConfigureAwait(false);
            if (fua) await FlushOriginAsync().ConfigureAwait(false);
        }
        finally { Exit(); }
    }

    public async ValueTask TrimAsync(long offset, long length, bool fua)
    {
        Geometry.CheckRange(offset, length);
        await EnterWriteAsync().ConfigureAwait(false);
        try
        {
            if (_pending.Overlapping(offset, length) is { } earlier) await earlier.ConfigureAwait(false);
            await MarkAsync(offset, length).ConfigureAwait(false);
            await _origin.TrimAsync(offset, length).ConfigureAwait(false);
            if (fua) await FlushOriginAsync().ConfigureAwait(false);
        }
        finally { Exit(); }
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, bool fua)
    {
        Geometry.CheckRange(offset, length);
        await EnterWriteAsync().ConfigureAwait(false);
        try
        {
            if (_pending.Overlapping(offset, length) is { } earlier) await earlier.ConfigureAwait(false);
            await MarkAsync(offset, length).ConfigureAwait(false);
            await _origin.WriteZeroesAsync(offset, length).ConfigureAwait(false);
            if (fua) await FlushOriginAsync().ConfigureAwait(false);
        }
        finally { Exit(); }
    }

    /// <summary>
    /// NBD_CMD_FLUSH: every write answered before it reaches the origin, then only the origin is flushed (the
    /// metadata was durable before any tracked write was issued). A written-back write that failed since the
    /// last FLUSH fails this one, once, as the page cache reports a writeback error at fsync.
    /// </summary>
    public async ValueTask FlushAsync()
    {
        Enter();
        try
        {
            await FlushOriginAsync().ConfigureAwait(false);
            if (_pending.TakeFailure() is { } failed)
                throw new VolumeFailedException($"volume {_name}: a write answered before this flush did not reach the origin: {failed.Message}", failed);
        }
        finally { Exit(); }
    }

    /// <summary>FLUSH and FUA: the writes answered so far reach the origin first, then it is flushed.</summary>
    private async ValueTask FlushOriginAsync()
    {
        if (_pending.All() is { } answered) await answered.ConfigureAwait(false);
        await _origin.FlushAsync().ConfigureAwait(false);
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
