using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace DmEra.Backup;

/// <summary>
/// Reads the copy's runs over one NBD connection with up to <c>depth</c> reads in flight: libnbd's asynchronous
/// reads, driven by <c>nbd_poll</c> on this thread, which libnbd fills the buffers from as the replies arrive.
/// With one synchronous read at a time the server's reader for the connection idled for a round trip (the
/// reply's tail, a hand-off to the consumer, the next request) after every read; with several queued it always
/// has the next (as nbdcopy keeps 64 per connection). A read's failure fails its run only; the consumer, which
/// takes runs in order, stops the copy at the first.
/// </summary>
internal sealed unsafe class ConnectionReader(NbdConnection connection, ReadBuffers buffers, int depth, long exportSize)
{
    /// <summary>How long one wait for replies lasts at most: how soon a cancelled copy is noticed with reads in flight.</summary>
    private const int PollMs = 200;
    /// <summary>
    /// How long reads still in flight when the copy stops may take to finish; after that their buffers are left to
    /// the connection (libnbd may still write into them) and freed with it.
    /// </summary>
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(5);

    private readonly Dictionary<long, CopyRun> _inFlight = new(depth);

    /// <summary>Reads runs from <paramref name="jobs"/> until it completes or <paramref name="ct"/> is cancelled.</summary>
    public void Run(ChannelReader<CopyRun> jobs, CancellationToken ct)
    {
        Exception stopped = new OperationCanceledException("the copy stopped with this read in flight");
        try
        {
            while (true)
            {
                while (_inFlight.Count < depth && buffers.TryTake(out var free))
                {
                    if (jobs.TryRead(out var next)) Start(next, free);
                    else
                    {
                        buffers.Return(free);
                        break;
                    }
                }
                if (_inFlight.Count == 0)
                {
                    // Nothing to wait for on the socket: wait for a run, then for a buffer to read it into.
                    if (!jobs.WaitToReadAsync(ct).AsTask().GetAwaiter().GetResult()) return;
                    var buffer = buffers.Take(ct);
                    if (jobs.TryRead(out var run)) Start(run, buffer);
                    else buffers.Return(buffer);    // another connection took it
                    continue;
                }
                try
                {
                    connection.WaitForReplies(PollMs);
                }
                catch (BackupException) when (connection.IsDead)
                {
                    // The server went away: libnbd failed every read in flight; retired below, each with its error.
                }
                RetireFinished();
                FailAllIfDead();
                ct.ThrowIfCancellationRequested();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (BackupException e)
        {
            stopped = e;    // the wait for replies failed on a live handle: its reads fail with why
        }
        finally
        {
            Drain(stopped);
        }
    }

    private void Start(CopyRun run, byte[] buffer)
    {
        run.Lend(buffer, buffers);
        // The last cluster of an export whose size is not a multiple of the cluster size: the rest reads as zeros.
        var length = (int)Math.Min(run.Bytes, exportSize - run.Offset);
        buffer.AsSpan(length, run.Bytes - length).Clear();
        long cookie;
        try
        {
            cookie = connection.StartRead(run.Offset, (byte*)Marshal.UnsafeAddrOfPinnedArrayElement(buffer, 0), length);
        }
        catch (BackupException e)
        {
            run.ReadEnded(e);    // not sent: libnbd never had the buffer
            return;
        }
        _inFlight.Add(cookie, run);
    }

    private void RetireFinished()
    {
        while (connection.TryRetire(out var cookie, out var error))
        {
            // Only ours: the producer's block status on a shared connection retires its own command.
            if (_inFlight.Remove(cookie, out var run)) run.ReadEnded(error is null ? null : new BackupException(error));
        }
    }

    /// <summary>A dead handle writes into no buffer any more: reads it did not report are failed and their buffers free.</summary>
    private void FailAllIfDead()
    {
        if (_inFlight.Count == 0 || !connection.IsDead) return;
        var e = new BackupException($"{connection.Uri}: the connection ended with reads in flight");
        foreach (var run in _inFlight.Values) run.ReadEnded(e);
        _inFlight.Clear();
    }

    /// <summary>The copy stopped: lets the reads in flight finish (bounded), so their buffers can be reused safely.</summary>
    private void Drain(Exception stopped)
    {
        var clock = Stopwatch.StartNew();
        while (_inFlight.Count > 0 && !connection.IsDead && clock.Elapsed < DrainLimit)
        {
            try
            {
                connection.WaitForReplies(PollMs);
            }
            catch (BackupException)
            {
            }
            RetireFinished();
        }
        FailAllIfDead();
        foreach (var run in _inFlight.Values) run.ReadAbandoned(connection, stopped);
        _inFlight.Clear();
    }
}
