namespace DmEra.Engine.Backup;

/// <summary>
/// The copy-before-write's I/O, off the request's thread and in batches. A save used to run on the thread that
/// received its write (an NBD connection's reader): its origin read and store write then held up the reading of
/// the next request, and at QD16 a view cost 0.6x of the writes (bench/results/view-2026-12-03h.md). Here a save
/// is queued and the caller gets a pending task, so its write is answered at once and written back after the
/// save (IoRouter's write-back), and the reader goes on with the next request while one thread-pool thread
/// drains the queue: the origin reads of every save queued meanwhile, then the store writes, one per stretch of
/// adjacent slots (claims take slots in order, so a batch is mostly one write), into one buffer reused for the
/// view's life. A save completes on the draining thread, so what its write does next (the origin write) runs
/// there too, without another hop (bench/results/view-2026-12-03i.md).
/// </summary>
internal sealed class SaveQueue(Func<long, Memory<byte>, ValueTask> readOrigin, ISavedCopyFile store, Func<bool> stopped)
{
    /// <summary>The largest save, and a batch's buffer: a batch takes saves until the next would not fit.</summary>
    public const int BatchBytes = 1 << 20;
    private readonly object _lock = new();
    private readonly Queue<Save> _queue = new();   // under _lock
    private bool _draining;                        // under _lock: a drain is queued or running
    private byte[]? _buffer;                       // the drain's only

    /// <summary>Completes once the <paramref name="length"/> bytes at <paramref name="originOffset"/> are at <paramref name="storeOffset"/> in the store (or the view stopped); faults with the I/O's error.</summary>
    public Task SaveAsync(long originOffset, int length, long storeOffset)
    {
        if (length <= 0 || length > BatchBytes) throw new ArgumentOutOfRangeException(nameof(length));
        var save = new Save(originOffset, length, storeOffset);
        bool start;
        lock (_lock)
        {
            _queue.Enqueue(save);
            start = !_draining;
            _draining = true;
        }
        if (start) ThreadPool.UnsafeQueueUserWorkItem(static q => _ = q.DrainAsync(), this, preferLocal: false);
        return save.Task;
    }

    private async Task DrainAsync()
    {
        var batch = new List<Save>();
        while (true)
        {
            lock (_lock)
            {
                var bytes = 0;
                while (_queue.TryPeek(out var next) && bytes + next.Length <= BatchBytes)
                {
                    batch.Add(_queue.Dequeue());
                    bytes += next.Length;
                }
                if (batch.Count == 0)
                {
                    _draining = false;
                    return;
                }
            }
            Exception? failure = null;
            try
            {
                if (!stopped()) await SaveBatchAsync(batch).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                failure = e;
            }
            // No lock held: each completion runs its write's next steps here, and those may queue a save.
            foreach (var save in batch)
                if (failure is null) save.TrySetResult();
                else save.TrySetException(failure);
            batch.Clear();
        }
    }

    private async Task SaveBatchAsync(List<Save> batch)
    {
        batch.Sort(static (a, b) => a.StoreOffset.CompareTo(b.StoreOffset));
        var buffer = _buffer ??= GC.AllocateUninitializedArray<byte>(BatchBytes);
        // Every read is started before any is awaited: one that waits for the device does not hold the others.
        var reads = new ValueTask[batch.Count];
        var at = 0;
        for (var i = 0; i < batch.Count; i++)
        {
            reads[i] = readOrigin(batch[i].OriginOffset, buffer.AsMemory(at, batch[i].Length));
            at += batch[i].Length;
        }
        Exception? failure = null;
        foreach (var read in reads)
        {
            try { await read.ConfigureAwait(false); }
            catch (Exception e) { failure ??= e; }   // every read is awaited before the buffer is reused
        }
        if (failure is not null) throw failure;
        // A break meanwhile gives the store's space back once these saves are done (BackupView), so these writes
        // never land in a truncated store; skipping them just saves the work.
        if (stopped()) return;
        at = 0;
        for (var i = 0; i < batch.Count;)
        {
            var first = batch[i];
            var length = first.Length;
            var j = i + 1;
            for (; j < batch.Count && batch[j].StoreOffset == first.StoreOffset + length; j++) length += batch[j].Length;
            await store.WriteAsync(first.StoreOffset, buffer.AsMemory(at, length)).ConfigureAwait(false);
            at += length;
            i = j;
        }
    }

    /// <summary>One save; completes without forcing its continuation elsewhere, so the write behind it runs on the draining thread.</summary>
    private sealed class Save(long originOffset, int length, long storeOffset) : TaskCompletionSource
    {
        public long OriginOffset { get; } = originOffset;
        public int Length { get; } = length;
        public long StoreOffset { get; } = storeOffset;
    }
}
