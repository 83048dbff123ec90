using System.Runtime.CompilerServices;
using DmEra.Engine.Tracking;

namespace DmEra.Engine.Backup;

/// <summary>
/// A point-in-time view of a volume (qemu's copy-before-write plus snapshot-access, in one class, no Akka):
/// before a write after the instant reaches the origin, <see cref="CopyBeforeWriteAsync"/> saves the old
/// contents of the 4 KiB chunks it covers that are not saved yet into the saved-copy file; <see cref="ReadAsync"/>
/// serves saved chunks from there and the rest from the origin. The unit is the chunk, not the tracking block:
/// a 4 KiB write into a 64 KiB block copies 4 KiB, not 64 (bench/results/view-2026-12-03d.md), so a write to a
/// block already marked in the current era may still have a chunk to save. A reader never sees new contents
/// through the origin, and never makes a write wait: it reads the origin, then takes from the store every chunk
/// saved by then (a chunk's old contents are in the store before its write may reach the origin). While the
/// live volume is busy, reads are paced (<see cref="ViewReadPacer"/>): a paced reader waits, so a lock or a claim
/// it held would stall writes; reads take none.
/// Failure policy (qemu's break-snapshot, blksnap, dattobd): a full or failing store breaks the view, never
/// a write; every later read of the view fails with <see cref="BackupViewBrokenException"/>.
/// </summary>
public sealed class BackupView : IDisposable
{
    /// <summary>The copy-before-write unit: the page size, and the smallest write NBD clients send in practice.</summary>
    public const int ChunkBytes = 4096;
    // A large write saves its chunks in runs of at most this many (1 MiB): one origin read and one store write
    // each, with a bounded buffer.
    private const int MaxRunChunks = SaveQueue.BatchBytes / ChunkBytes;
    private readonly BlockGeometry _geometry;
    private readonly Func<long, Memory<byte>, ValueTask> _readOrigin;
    private readonly ISavedCopyFile _store;
    private readonly Action<string>? _onBroken;
    private readonly ViewReadPacer? _pacer;
    private readonly object _lock = new();
    private readonly SavedChunks _saved;   // read lock-free, changed under _lock
    private readonly SaveQueue _saves;
    // All below under _lock.
    private readonly List<SaveRun> _saving = new();
    private long _nextSlot;
    private string? _broken;   // also read lock-free (Volatile) by reads and the write path
    private bool _releaseWhenSaved;   // broken with saves in flight: the store's space goes back after the last

    public BackupView(BlockGeometry geometry, Func<long, Memory<byte>, ValueTask> readOrigin, ISavedCopyFile store,
        long limitBytes, uint? sinceEra, Action<string>? onBroken = null, ViewReadPacer? pacer = null)
    {
        _geometry = geometry;
        _pacer = pacer;
        _readOrigin = readOrigin;
        _store = store;
        _onBroken = onBroken;
        LimitBytes = limitBytes;
        SinceEra = sinceEra;
        _saved = new SavedChunks((geometry.OriginBytes + ChunkBytes - 1) / ChunkBytes);
        _saves = new SaveQueue(readOrigin, store, () => Volatile.Read(ref _broken) is not null);
    }

    /// <summary>The era the view closes: it holds every write acknowledged in eras up to this one.</summary>
    public uint Era { get; private set; }

    /// <summary>The held metadata snapshot whose era answers are exact for the instant.</summary>
    public long HeldRoot { get; private set; }

    public uint? SinceEra { get; }

    /// <summary>What paces the view's reads while the live volume is busy, or null (never paced).</summary>
    public ViewReadPacer? Pacer => _pacer;

    public long LimitBytes { get; }
    public long SizeBytes => _geometry.OriginBytes;
    public long BlockBytes => _geometry.BlockBytes;
    public string StorePath => _store.Path;

    /// <summary>Bytes of the saved-copy file holding old contents (whole chunks), what its limit counts.</summary>
    public long SavedBytes
    {
        get { lock (_lock) return _nextSlot * ChunkBytes; }
    }

    /// <summary>Why the view broke, or null while it is intact.</summary>
    public string? BrokenReason
    {
        get { lock (_lock) return _broken; }
    }

    /// <summary>Called once the instant's metadata snapshot is committed, before any write passes the instant.</summary>
    public void Start(long heldRoot, uint era)
    {
        HeldRoot = heldRoot;
        Era = era;
        _store.WriteHeader(heldRoot, era);
    }

    /// <summary>Whether any part of tracking block <paramref name="block"/> has been overwritten since the instant (its old contents saved).</summary>
    public bool IsSaved(uint block)
    {
        var start = block * _geometry.BlockBytes;
        var end = Math.Min(start + _geometry.BlockBytes, _geometry.OriginBytes);
        return NextSavedByte(start, end) < end;
    }

    /// <summary>The first byte in [<paramref name="offset"/>, <paramref name="end"/>) of a chunk whose old contents were saved, or <paramref name="end"/>: a bitmap word at a time, so a huge hole is one step.</summary>
    public long NextSavedByte(long offset, long end) => NextByte(offset, end, saved: true);

    /// <summary>The first byte in [<paramref name="offset"/>, <paramref name="end"/>) of a chunk not overwritten since the instant, or <paramref name="end"/>.</summary>
    public long NextUnsavedByte(long offset, long end) => NextByte(offset, end, saved: false);

    private long NextByte(long offset, long end, bool saved)
    {
        if (offset >= end) return end;
        var chunk = _saved.Next(offset / ChunkBytes, (end - 1) / ChunkBytes + 1, saved);
        return Math.Clamp(chunk * ChunkBytes, offset, end);
    }

    /// <summary>
    /// Lock-free, for the write path's check on every write while a view is held: true when every chunk of the
    /// range is saved (or the view is broken, and saves nothing more), so a write there needs no
    /// <see cref="CopyBeforeWriteAsync"/>. A saved bit is set only after its chunk's old contents are in the
    /// store, under the lock, whose release publishes the store write before the bit.
    /// </summary>
    public bool AreAllSaved(long offset, long length) =>
        length <= 0 || Volatile.Read(ref _broken) is not null || _saved.ContainsAll(offset / ChunkBytes, (offset + length - 1) / ChunkBytes);

    /// <summary>
    /// Saves the old contents of every chunk of the range not saved yet; returns when the origin may be
    /// written there. Never throws: a failure breaks the view and lets the write go on.
    /// </summary>
    public ValueTask CopyBeforeWriteAsync(long offset, long length) =>
        AreAllSaved(offset, length) ? ValueTask.CompletedTask : SaveAsync(offset / ChunkBytes, (offset + length - 1) / ChunkBytes);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SaveAsync(long first, long last)
    {
        // A run of free chunks at a time, ascending. A run is claimed whole under the lock and saved without
        // waiting for any other save; a chunk another write is saving is waited for only with no claim held.
        // So two overlapping writes never wait on each other.
        while (true)
        {
            SaveRun? mine = null;
            Task? other = null;
            lock (_lock)
            {
                if (_broken is not null) return;
                var c = _saved.Next(first, last + 1, saved: false);   // saved stretches skipped a bitmap word at a time
                while (c <= last && ClaimOfLocked(c) is { } claim)
                {
                    other ??= claim.Finished;
                    c = _saved.Next(claim.Last + 1, last + 1, saved: false);
                }
                if (c <= last)
                {
                    var end = c;
                    while (end < last && end - c + 1 < MaxRunChunks && !_saved.Contains(end + 1) && ClaimOfLocked(end + 1) is null) end++;
                    if ((_nextSlot + end - c + 1) * ChunkBytes > LimitBytes)
                    {
                        BreakLocked($"saved-copy store full: saving {(end - c + 1) * ChunkBytes} more bytes would pass its {LimitBytes}-byte limit ({_nextSlot * ChunkBytes} used)");
                        return;
                    }
                    mine = new SaveRun(c, end, _nextSlot);
                    _nextSlot += end - c + 1;
                    _saving.Add(mine);
                }
                else if (other is null) return;   // every chunk saved
            }
            if (mine is null) await other!.ConfigureAwait(false);
            else await SaveRunAsync(mine).ConfigureAwait(false);
        }
    }

    private SaveRun? ClaimOfLocked(long chunk)
    {
        foreach (var s in _saving)
            if (s.First <= chunk && chunk <= s.Last) return s;
        return null;
    }

    private async ValueTask SaveRunAsync(SaveRun run)
    {
        try
        {
            if (Volatile.Read(ref _broken) is not null) return;
            var offset = run.First * ChunkBytes;
            var length = (int)(Math.Min((run.Last + 1) * ChunkBytes, _geometry.OriginBytes) - offset);
            // Off this thread, batched with the saves of other writes (SaveQueue). The store's space goes back
            // on a break only once this run is out of _saving (below), so the queue never writes a truncated store.
            await _saves.SaveAsync(offset, length, SlotOffset(run.Slot)).ConfigureAwait(false);
            lock (_lock)
                if (_broken is null) _saved.Add(run.First, run.Last, run.Slot);
            // The saved bits must be visible before the write this save lets through reaches the origin: a
            // reader that sees the new contents there then finds the bits and reads the store (ReadAsync).
            Interlocked.MemoryBarrier();
        }
        catch (Exception e)
        {
            Break($"saved-copy store {_store.Path} failed: {e.Message}");
        }
        finally
        {
            TaskCompletionSource? done;
            bool release;
            lock (_lock)
            {
                _saving.Remove(run);
                done = run.Done;   // no one can ask for it once the run is out of the list
                release = _releaseWhenSaved && _saving.Count == 0;
                if (release) _releaseWhenSaved = false;
            }
            done?.TrySetResult();
            if (release) ReleaseStore();
        }
    }

    private static long SlotOffset(long slot) => SavedCopyFile.HeaderBytes + slot * ChunkBytes;

    /// <summary>Reads the volume as it was at the instant, paced while the live volume is busy. Throws <see cref="BackupViewBrokenException"/> once broken.</summary>
    public ValueTask ReadAsync(long offset, Memory<byte> buffer) =>
        _pacer is { MustPace: true } pacer
            ? pacer.PaceAsync(static s => s.View.ReadUnpacedAsync(s.Offset, s.Buffer), (View: this, Offset: offset, Buffer: buffer))
            : ReadUnpacedAsync(offset, buffer);

    private async ValueTask ReadUnpacedAsync(long offset, Memory<byte> buffer)
    {
        _geometry.CheckRange(offset, buffer.Length);
        if (buffer.Length == 0) return;
        var first = offset / ChunkBytes;
        var last = (offset + buffer.Length - 1) / ChunkBytes;
        ThrowIfBroken();
        try
        {
            // Lock-free and without a claim: a write never waits for a reader. The origin is read first, the
            // saved chunks after: a chunk's write reaches the origin only after its old contents are in the store
            // and its saved bit is set (SaveRunAsync), so a chunk that holds new contents in what was read is
            // found saved below and read again from the store. A chunk being saved meanwhile still held its old
            // contents when read (its write waits for the save), and a break lets writes through unsaved, which
            // the check at the end refuses.
            if (!_saved.ContainsAll(first, last))
            {
                await _readOrigin(offset, buffer).ConfigureAwait(false);
                Interlocked.MemoryBarrier();   // the origin's bytes are read before the saved bits
            }
            if (SavedRuns(first, last) is { } saved)
                foreach (var (runFirst, runLast, slot) in saved)
                {
                    var runStart = runFirst * ChunkBytes;
                    var from = Math.Max(offset, runStart);
                    var to = Math.Min(offset + buffer.Length, (runLast + 1) * ChunkBytes);
                    await _store.ReadAsync(SlotOffset(slot) + (from - runStart), buffer[(int)(from - offset)..(int)(to - offset)]).ConfigureAwait(false);
                }
        }
        catch (Exception e) when (e is not BackupViewBrokenException)
        {
            ThrowIfBroken();   // a store truncated by a break fails reads with the break's reason
            throw;
        }
        Interlocked.MemoryBarrier();
        ThrowIfBroken();
    }

    /// <summary>The saved chunks of [first, last] as runs contiguous in the store (one read each), lock-free.</summary>
    private List<(long First, long Last, long Slot)>? SavedRuns(long first, long last)
    {
        List<(long First, long Last, long Slot)>? runs = null;
        for (var c = first; c <= last;)
        {
            var s = _saved.Next(c, last + 1, saved: true);
            if (s > last) break;
            var e = _saved.Next(s, last + 1, saved: false) - 1;
            for (var k = s; k <= e;)
            {
                var slot = _saved.SlotOf(k);
                var runEnd = k;
                while (runEnd < e && _saved.SlotOf(runEnd + 1) == slot + (runEnd + 1 - k)) runEnd++;
                (runs ??= new()).Add((k, runEnd, slot));
                k = runEnd + 1;
            }
            c = e + 1;
        }
        return runs;
    }

    private void ThrowIfBroken()
    {
        if (Volatile.Read(ref _broken) is { } reason) throw new BackupViewBrokenException(reason);
    }

    /// <summary>Stops saving; later reads fail with <paramref name="reason"/>. The first reason stays.</summary>
    public void Break(string reason)
    {
        lock (_lock) BreakLocked(reason);
    }

    private void BreakLocked(string reason, bool notify = true)
    {
        if (_broken is not null) return;
        Volatile.Write(ref _broken, reason);
        // A save in flight may still write its slot: the space goes back after the last one (SaveRunAsync).
        // No save starts once broken, so _saving only shrinks from here.
        if (_saving.Count == 0) ReleaseStore();
        else _releaseWhenSaved = true;
        if (notify) _onBroken?.Invoke(reason);
    }

    private void ReleaseStore()
    {
        try { _store.Release(); } catch (Exception) { /* the reason already says the store is unusable */ }
    }

    /// <summary>Ends the view: its readers get errors and its saved copies are deleted.</summary>
    public void Drop()
    {
        lock (_lock) BreakLocked("the backup view was dropped", notify: false);
        _store.Delete();
    }

    /// <summary>The volume stopped with the view held: the file stays for the next start to clean up.</summary>
    public void Dispose()
    {
        lock (_lock)
            if (_broken is null) Volatile.Write(ref _broken, "the volume stopped");
        _store.Dispose();
    }

    /// <summary>Chunks [First, Last] being saved into slots from Slot on. Done is made only when someone waits (under the lock).</summary>
    private sealed class SaveRun(long first, long last, long slot)
    {
        public long First { get; } = first;
        public long Last { get; } = last;
        public long Slot { get; } = slot;
        public TaskCompletionSource? Done;
        public Task Finished => (Done ??= new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
    }

}

/// <summary>A read of a backup view that broke (store full or failing) or ended; a protocol server answers EIO.</summary>
public sealed class BackupViewBrokenException(string reason) : IOException($"backup view broken: {reason}");

/// <summary>The volume's current view, read lock-free by the request path; only the snapshot actor sets it.</summary>
public sealed class BackupViewSlot
{
    private BackupView? _current;

    public BackupView? Current => Volatile.Read(ref _current);

    internal void Set(BackupView? view) => Volatile.Write(ref _current, view);
}
