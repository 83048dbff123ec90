namespace DmEra.Engine.Durability;

/// <summary>
/// One thread per volume that runs the metadata commits of logged marks, so their two fdatasyncs block
/// neither the metadata writer (which goes on appending to the intent log) nor a thread-pool thread.
/// One job at a time; <see cref="Wait"/> blocks until the current one has finished.
/// </summary>
internal sealed class BackgroundCommitThread : IDisposable
{
    private readonly object _lock = new();
    private readonly Thread _thread;
    private Action? _job;
    private bool _running;
    private bool _disposed;

    public BackgroundCommitThread(string name)
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    public bool Busy
    {
        get { lock (_lock) return _job is not null || _running; }
    }

    public void Run(Action job)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_job is not null || _running) throw new InvalidOperationException("a background commit is already running");
            _job = job;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Blocks until no job is queued or running.</summary>
    public void Wait()
    {
        lock (_lock)
            while (_job is not null || _running) Monitor.Wait(_lock);
    }

    private void Loop()
    {
        while (true)
        {
            Action job;
            lock (_lock)
            {
                while (_job is null && !_disposed) Monitor.Wait(_lock);
                if (_job is null) return;
                job = _job;
                _job = null;
                _running = true;
            }
            try
            {
                job();   // reports its own outcome; nothing may escape and end the thread
            }
            finally
            {
                lock (_lock)
                {
                    _running = false;
                    Monitor.PulseAll(_lock);
                }
            }
        }
    }

    /// <summary>Finishes the job in progress, then ends the thread.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            Monitor.PulseAll(_lock);
        }
        _thread.Join();
    }
}
