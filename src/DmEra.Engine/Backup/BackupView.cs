using System.Buffers;
using DmEra.Engine.Tracking;

namespace DmEra.Engine.Backup;

/// <summary>
/// A point-in-time view of a volume (qemu's copy-before-write plus snapshot-access, in one class, no Akka):
/// before the first write after the instant reaches a tracking block, <see cref="CopyBeforeWriteAsync"/>
/// saves the block's old contents into the saved-copy file; <see cref="ReadAsync"/> serves saved blocks
/// from there and the rest from the origin. A read of the origin and the save of the same block are
/// interlocked: the save waits for reads of that block already under way, and reads that come during a
/// save wait for it, so a reader never sees new contents through the origin.
/// Failure policy (qemu's break-snapshot, blksnap, dattobd): a full or failing store breaks the view, never
/// a write; every later read of the view fails with <see cref="BackupViewBrokenException"/>.
/// </summary>
public sealed class BackupView : IDisposable
{
    private readonly BlockGeometry _geometry;
    private readonly Func<long, Memory<byte>, ValueTask> _readOrigin;
    private readonly ISavedCopyFile _store;
    private readonly Action<string>? _onBroken;
    private readonly object _lock = new();
    // All below under _lock.
    private readonly ulong[] _saved;
    private readonly Dictionary<uint, long> _slots = new();
    private readonly Dictionary<uint, TaskCompletionSource> _saving = new();
    private readonly List<OriginRead> _originReads = new();
    private long _nextSlot;
    private string? _broken;

    public BackupView(BlockGeometry geometry, Func<long, Memory<byte>, ValueTask> readOrigin, ISavedCopyFile store,
        long limitBytes, uint? sinceEra, Action<string>? onBroken = null)
    {
        _geometry = geometry;
        _readOrigin = readOrigin;
        _store = store;
        _onBroken = onBroken;
        LimitBytes = limitBytes;
        SinceEra = sinceEra;
        _saved = new ulong[(geometry.NrBlocks + 63) / 64];
    }

    /// <summary>The era the view closes: it holds every write acknowledged in eras up to this one.</summary>
    public uint Era { get; private set; }

    /// <summary>The held metadata snapshot whose era answers are exact for the instant.</summary>
    public long HeldRoot { get; private set; }

    public uint? SinceEra { get; }
    public long LimitBytes { get; }
    public long SizeBytes => _geometry.OriginBytes;
    public long BlockBytes => _geometry.BlockBytes;
    public string StorePath => _store.Path;

    public long SavedBytes
    {
        get { lock (_lock) return _nextSlot * _geometry.BlockBytes; }
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

    /// <summary>Whether block <paramref name="block"/> has been overwritten since the instant (its old contents are saved).</summary>
    public bool IsSaved(uint block)
    {
        lock (_lock) return IsSavedLocked(block);
    }

    /// <summary>The first block in [<paramref name="first"/>, <paramref name="end"/>) whose old contents were saved, or <paramref name="end"/>: a bitmap word at a time, so a huge hole is one step.</summary>
    public uint NextSaved(uint first, uint end)
    {
        lock (_lock)
        {
            for (var b = (ulong)first; b < end; b = (b | 63) + 1)
            {
                var word = _saved[b >> 6] >> (int)(b & 63);
                if (word != 0) return (uint)Math.Min(end, b + (ulong)System.Numerics.BitOperations.TrailingZeroCount(word));
            }
            return end;
        }
    }

    private bool IsSavedLocked(uint block) => (_saved[block >> 6] >> (int)(block & 63) & 1) != 0;

    /// <summary>
    /// Lock-free, for the write path's fast check: true when every block of [first, last] is saved (or the
    /// view is broken, and saves nothing more), so a write there needs no <see cref="CopyBeforeWriteAsync"/>.
    /// A saved bit is set only after its block's old contents are in the store, under the lock, whose
    /// release publishes the store write before the bit.
    /// </summary>
    public bool AreAllSaved(uint first, uint last)
    {
        if (Volatile.Read(ref _broken) is not null) return true;
        for (var b = first; ; b++)
        {
            if ((Volatile.Read(ref _saved[b >> 6]) >> (int)(b & 63) & 1) == 0) return false;
            if (b == last) return true;
        }
    }

    /// <summary>
    /// Saves the old contents of every block of [first, last] not saved yet; returns when the origin may be
    /// written. Never throws: a failure breaks the view and lets the write go on.
    /// </summary>
    public async ValueTask CopyBeforeWriteAsync(uint first, uint last)
    {
        // One block at a time, ascending, holding at most one save: two overlapping writes cannot wait on each other.
        for (var b = first; ; b++)
        {
            await SaveAsync(b).ConfigureAwait(false);
            if (b == last) break;
        }
    }

    private async ValueTask SaveAsync(uint block)
    {
        TaskCompletionSource mine;
        List<Task>? readers = null;
        while (true)
        {
            Task? other = null;
            lock (_lock)
            {
                if (_broken is not null || IsSavedLocked(block)) return;
                if (_saving.TryGetValue(block, out var tcs)) other = tcs.Task;
                else
                {
                    mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    _saving.Add(block, mine);
                    foreach (var r in _originReads)
                        if (r.First <= block && block <= r.Last) (readers ??= new()).Add((r.Done ??= new(TaskCreationOptions.RunContinuationsAsynchronously)).Task);
                    break;
                }
            }
            await other.ConfigureAwait(false);
        }
        try
        {
            // Reads of this block's old contents from the origin finish before the write may change them.
            if (readers is not null) await Task.WhenAll(readers).ConfigureAwait(false);
            var offset = block * _geometry.BlockBytes;
            var length = (int)Math.Min(_geometry.BlockBytes, _geometry.OriginBytes - offset);
            long slot;
            lock (_lock)
            {
                if (_broken is not null) return;
                if ((_nextSlot + 1) * _geometry.BlockBytes > LimitBytes)
                {
                    BreakLocked($"saved-copy store full: {_nextSlot * _geometry.BlockBytes} of its {LimitBytes}-byte limit used");
                    return;
                }
                slot = _nextSlot++;
            }
            var buffer = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                await _readOrigin(offset, buffer.AsMemory(0, length)).ConfigureAwait(false);
                await _store.WriteAsync(SlotOffset(slot), buffer.AsMemory(0, length)).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            lock (_lock)
            {
                if (_broken is not null) return;
                _slots[block] = slot;
                _saved[block >> 6] |= 1UL << (int)(block & 63);
            }
        }
        catch (Exception e)
        {
            Break($"saved-copy store {_store.Path} failed: {e.Message}");
        }
        finally
        {
            lock (_lock) _saving.Remove(block);
            mine.TrySetResult();
        }
    }

    private long SlotOffset(long slot) => SavedCopyFile.HeaderBytes + slot * _geometry.BlockBytes;

    /// <summary>Reads the volume as it was at the instant. Throws <see cref="BackupViewBrokenException"/> once broken.</summary>
    public async ValueTask ReadAsync(long offset, Memory<byte> buffer)
    {
        _geometry.CheckRange(offset, buffer.Length);
        if (buffer.Length == 0) return;
        var (first, last) = _geometry.BlocksOf(offset, buffer.Length);
        OriginRead read;
        List<(uint Block, long Slot)> saved;
        while (true)
        {
            Task? wait = null;
            lock (_lock)
            {
                ThrowIfBrokenLocked();
                foreach (var (b, t) in _saving)
                    if (first <= b && b <= last)
                    {
                        wait = t.Task;
                        break;
                    }
                if (wait is null)
                {
                    saved = new();
                    foreach (var (b, s) in SavedIn(first, last)) saved.Add((b, s));
                    read = new OriginRead(first, last);
                    _originReads.Add(read);
                    break;
                }
            }
            await wait.ConfigureAwait(false);   // a save of a block we read is under way: read after it
        }
        try
        {
            // Unsaved blocks cannot change on the origin while this read is registered.
            if (saved.Count <= last - first) await _readOrigin(offset, buffer).ConfigureAwait(false);
            foreach (var (b, slot) in saved)
            {
                var blockStart = b * _geometry.BlockBytes;
                var from = Math.Max(offset, blockStart);
                var to = Math.Min(offset + buffer.Length, Math.Min(blockStart + _geometry.BlockBytes, _geometry.OriginBytes));
                await _store.ReadAsync(SlotOffset(slot) + (from - blockStart), buffer[(int)(from - offset)..(int)(to - offset)]).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not BackupViewBrokenException)
        {
            lock (_lock) ThrowIfBrokenLocked();   // a store truncated by a break fails reads with the break's reason
            throw;
        }
        finally
        {
            lock (_lock)
            {
                _originReads.Remove(read);
                read.Done?.TrySetResult();
            }
        }
        lock (_lock) ThrowIfBrokenLocked();
    }

    private IEnumerable<(uint Block, long Slot)> SavedIn(uint first, uint last)
    {
        for (var b = first; ; b++)
        {
            if (IsSavedLocked(b)) yield return (b, _slots[b]);
            if (b == last) yield break;
        }
    }

    private void ThrowIfBrokenLocked()
    {
        if (_broken is not null) throw new BackupViewBrokenException(_broken);
    }

    /// <summary>Stops saving; later reads fail with <paramref name="reason"/>. The first reason stays.</summary>
    public void Break(string reason)
    {
        lock (_lock) BreakLocked(reason);
    }

    private void BreakLocked(string reason, bool notify = true)
    {
        if (_broken is not null) return;
        _broken = reason;
        // Writes waiting for a reader of a block go on now; the reader's result is refused as broken.
        foreach (var r in _originReads) r.Done?.TrySetResult();
        try { _store.Release(); } catch (Exception) { /* the reason already says the store is unusable */ }
        if (notify) _onBroken?.Invoke(reason);
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
        {
            _broken ??= "the volume stopped";
            foreach (var r in _originReads) r.Done?.TrySetResult();
        }
        _store.Dispose();
    }

    private sealed class OriginRead(uint first, uint last)
    {
        public uint First { get; } = first;
        public uint Last { get; } = last;
        public TaskCompletionSource? Done;
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
