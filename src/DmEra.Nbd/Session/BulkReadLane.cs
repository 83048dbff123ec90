using System.Collections.Concurrent;

namespace DmEra.Nbd.Session;

/// <summary>
/// One connection's thread for bulk READs (nbdkit's model: a connection's big reads run on a thread of its own,
/// in blocking calls). A 256 KiB read served on the thread pool holds a pool thread for the page-cache copy
/// and then again for every partial send, each a wake-up queued in the same FIFO as other connections'
/// small writes: a backup reader with 4 x 64 requests in flight delayed a writer's replies by milliseconds
/// (bench/results/view-2026-12-03.md), and the pool's idle workers spun in sched_yield between its
/// wake-ups (27% of the daemon's CPU samples during nbdcopy, perf, readpath-2026-12-03b.md). Here the copy
/// out of the page cache and the send (a blocking one, woken by the socket engine directly) happen on this
/// thread, and the pool keeps only the request reader's short turns. Created on the first bulk read; ends
/// when <see cref="Complete"/> is called and the queued requests are done.
/// </summary>
internal sealed class BulkReadLane
{
    private readonly BlockingCollection<NbdRequest> _queue = new(new ConcurrentQueue<NbdRequest>());
    private readonly Action<NbdRequest> _execute;
    private readonly Thread _thread;

    public BulkReadLane(Action<NbdRequest> execute, string peer)
    {
        _execute = execute;
        _thread = new Thread(Run) { IsBackground = true, Name = $"nbd reads {peer}" };
        _thread.Start();
    }

    /// <summary>True on the lane's own thread: its replies may block in send.</summary>
    public bool IsCurrentThread => Thread.CurrentThread == _thread;

    /// <summary>Queues a request; every queued request is executed, even after <see cref="Complete"/>.</summary>
    public void Post(NbdRequest request) => _queue.Add(request);

    /// <summary>No more requests: the thread ends once the queue is empty.</summary>
    public void Complete() => _queue.CompleteAdding();

    private void Run()
    {
        // The executor answers or releases every request itself (its failures end the connection, not this loop).
        foreach (var request in _queue.GetConsumingEnumerable()) _execute(request);
    }
}
