namespace DmEra.Storage;

/// <summary>
/// Group fdatasync for an origin: one dedicated thread runs the flushes, so a blocking fdatasync never
/// holds a .NET thread-pool thread (the pool Akka's default dispatcher and the NBD sessions run on). A flush
/// asked while one is in flight waits for the next one, which starts after the request and therefore covers
/// every write completed before it; all requests that queued meanwhile share that next fdatasync.
/// </summary>
public sealed class GroupFlusher : IDisposable
{
    private readonly Action _flush;
    private readonly object _lock = new();
    private readonly Thread _thread;
    private List<TaskCompletionSource> _waiting = new();
    private bool _disposed;

    public GroupFlusher(Action flush, string name)
    {
        _flush = flush;
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    public long Flushes => Interlocked.Read(ref _flushes);
    private long _flushes;

    public Task FlushAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _waiting.Add(done);
            Monitor.Pulse(_lock);
        }
        return done.Task;
    }

    private void Loop()
    {
        while (true)
        {
            List<TaskCompletionSource> batch;
            lock (_lock)
            {
                while (_waiting.Count == 0 && !_disposed) Monitor.Wait(_lock);
                if (_waiting.Count == 0) return;   // disposed and nothing left
                batch = _waiting;
                _waiting = new List<TaskCompletionSource>();
            }
            try
            {
                _flush();
                Interlocked.Increment(ref _flushes);
                foreach (var t in batch) t.TrySetResult();
            }
            catch (Exception e)
            {
                foreach (var t in batch) t.TrySetException(e);
            }
        }
    }

    /// <summary>Finishes the flushes already asked for, then ends the thread.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            Monitor.Pulse(_lock);
        }
        _thread.Join();
    }
}
