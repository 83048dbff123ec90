namespace DmEra.Backup;

/// <summary>
/// A run of clusters with one action, in the copy's order. A Copy run holds a buffer from <see cref="ReadBuffers"/>
/// from the start of its read until its last user is done with it: the read, the consumer and each write the
/// writer still has to make count as users, and the last one returns the buffer.
/// </summary>
internal sealed class CopyRun(long firstCluster, int count, ClusterAction kind, int clusterSize)
{
    public long FirstCluster { get; } = firstCluster;
    public int Count { get; } = count;
    public ClusterAction Kind { get; } = kind;
    public int ClusterSize { get; } = clusterSize;
    public long Offset => FirstCluster * ClusterSize;
    public int Bytes => Count * ClusterSize;
    public byte[]? Buffer { get; private set; }

    /// <summary>Completes once the read has ended; the buffer holds the data only when it succeeded.</summary>
    public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ReadBuffers? _pool;
    private int _users = 1;    // the consumer, which takes every run in order

    /// <summary>A Skip marker carrying the byte offset covered so far (for the progress bar).</summary>
    public static CopyRun Progress(long offset) => new(offset, 0, ClusterAction.Skip, 0);

    /// <summary>The reader hands the run its buffer; the read is a user until it ends.</summary>
    public void Lend(byte[] buffer, ReadBuffers pool)
    {
        Buffer = buffer;
        _pool = pool;
        Interlocked.Increment(ref _users);
    }

    /// <summary>The read ended: <paramref name="error"/> is null when the buffer now holds the data.</summary>
    public void ReadEnded(Exception? error)
    {
        if (error is null) Done.TrySetResult();
        else Done.TrySetException(error);
        Release();
    }

    /// <summary>
    /// The read was given up while libnbd may still write into the buffer: it goes to the connection, which keeps
    /// it until the handle is closed, and never back to the pool.
    /// </summary>
    public void ReadAbandoned(NbdConnection connection, Exception error)
    {
        connection.KeepUntilClosed(Buffer!);
        _pool = null;
        ReadEnded(error);
    }

    public void AddUser() => Interlocked.Increment(ref _users);

    /// <summary>One user is done; the last one returns the buffer.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _users) != 0) return;
        if (_pool is { } pool && Buffer is { } b)
        {
            Buffer = null;
            pool.Return(b);
        }
    }
}
