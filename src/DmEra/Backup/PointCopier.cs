using System.Threading.Channels;

namespace DmEra.Backup;

/// <summary>What one copy did.</summary>
public sealed record CopyResult(long BytesCopied, long DataClusters, long ZeroClusters, long VirtualSize);

/// <summary>
/// Copies an NBD export into a <see cref="Qcow2PointWriter"/>: block status (base:allocation and, for
/// an incremental, the dirty context) decides each cluster; data runs are read over several connections with
/// several reads in flight on each (<see cref="ConnectionReader"/>) and laid out in order (the writer's threads
/// then write them). Memory is bounded by <see cref="Buffers"/> buffers of <see cref="RunBytes"/>, which every
/// run holds from its read until its write, whatever the volume size.
/// </summary>
public sealed class PointCopier
{
    public const string Allocation = "base:allocation";
    /// <summary>Largest read: 1 MiB, within every server's maximum request and large enough to amortise a request's overhead.</summary>
    public const int RunBytes = 1 << 20;
    /// <summary>Runs read, waiting for the writer or being written at once: the client's read memory (24 MiB).</summary>
    private const int Buffers = 24;
    /// <summary>Reads in flight on one connection at most (so one connection cannot take every buffer).</summary>
    private const int Depth = 8;
    /// <summary>Runs the producer may plan ahead of the consumer (small objects; the buffers bound the memory).</summary>
    private const int Planned = 4 * Buffers;
    /// <summary>Block status asks this much at a time (the request length is 32-bit).</summary>
    private const long StatusWindow = 1L << 30;

    private readonly string _uri;
    private readonly int _connections;

    public PointCopier(string uri, int connections = 4)
    {
        _uri = uri;
        _connections = Math.Max(1, connections);
    }

    /// <summary>Opens the first connection (so the caller can read the export's size and description before the copy).</summary>
    public static NbdConnection Connect(string uri, string? dirtyContext)
    {
        var c = Open(uri, dirtyContext);
        try
        {
            RequireContext(c, dirtyContext);
        }
        catch
        {
            c.Dispose();
            throw;
        }
        return c;
    }

    /// <summary>The first connection, asking for the copy's contexts but not yet requiring them.</summary>
    public static NbdConnection Open(string uri, string? dirtyContext) =>
        NbdConnection.Open(uri, dirtyContext is null ? [Allocation] : [Allocation, dirtyContext]);

    public static void RequireContext(NbdConnection c, string? dirtyContext)
    {
        if (dirtyContext is not null && !c.HasContext(dirtyContext))
            throw new BackupException($"{c.Uri}: the export offers no context {dirtyContext}");
    }

    /// <param name="primary">A connection from <see cref="Connect"/>: its block status drives the copy.</param>
    /// <param name="dirtyContext">The dirty context for an incremental; null for a full point.</param>
    public CopyResult Copy(NbdConnection primary, string? dirtyContext, Qcow2PointWriter writer, IProgress<long>? progress, CancellationToken ct)
    {
        var size = primary.Size;
        var cs = writer.ClusterSize;
        var full = dirtyContext is null;
        var hasAllocation = primary.HasContext(Allocation);
        var runClusters = Math.Max(1, RunBytes / cs);

        var readers = new List<NbdConnection> { primary };
        var buffers = new ReadBuffers(Buffers, runClusters * cs);    // a cluster bigger than RunBytes is one run
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var jobs = Channel.CreateUnbounded<CopyRun>();
        var ordered = Channel.CreateBounded<CopyRun>(Planned);
        var workers = new List<Task>();
        try
        {
            for (var i = 1; i < _connections; i++) readers.Add(NbdConnection.Open(_uri, []));
            // A thread per connection, not the thread pool: each blocks in nbd_poll, and on a machine with few
            // cores the pool would add threads for them only slowly.
            foreach (var r in readers)
            {
                var reader = new ConnectionReader(r, buffers, Depth, size);
                workers.Add(Task.Factory.StartNew(() => reader.Run(jobs.Reader, stop.Token), stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default));
            }
            var producer = Task.Run(() => Produce(primary, size, cs, hasAllocation, dirtyContext, full, runClusters, jobs.Writer, ordered.Writer, stop.Token));
            var result = Consume(ordered.Reader, writer, full, cs, size, progress, stop.Token);
            producer.GetAwaiter().GetResult();
            return result;
        }
        catch
        {
            stop.Cancel();
            throw;
        }
        finally
        {
            stop.Cancel();
            jobs.Writer.TryComplete();
            ordered.Writer.TryComplete();
            // Drain what was queued so no buffer outlives the copy unaccounted.
            while (ordered.Reader.TryRead(out var left)) left.Release();
            // The readers let their reads in flight end (bounded) before the secondary connections close.
            try { Task.WaitAll([.. workers]); } catch (AggregateException) { }
            for (var i = 1; i < readers.Count; i++) readers[i].Dispose();
        }
    }

    private static void Produce(NbdConnection primary, long size, int cs, bool hasAllocation, string? dirtyContext, bool full,
        int runClusters, ChannelWriter<CopyRun> jobs, ChannelWriter<CopyRun> ordered, CancellationToken ct)
    {
        var actions = new List<ClusterAction>();
        try
        {
            long offset = 0;
            while (offset < size)
            {
                ct.ThrowIfCancellationRequested();
                var status = primary.BlockStatus(offset, Math.Min(size - offset, StatusWindow));
                var allocation = hasAllocation ? status.GetValueOrDefault(Allocation) ?? [] : null;
                var dirty = dirtyContext is null ? null : status.GetValueOrDefault(dirtyContext) ?? [];
                actions.Clear();
                var clusters = ExtentPlanner.Plan(offset, size, cs, allocation, dirty, actions, full);
                var first = offset / cs;
                for (var i = 0; i < actions.Count;)
                {
                    var kind = actions[i];
                    var j = i + 1;
                    while (j < actions.Count && actions[j] == kind && (kind != ClusterAction.Copy || j - i < runClusters)) j++;
                    if (kind != ClusterAction.Skip)
                    {
                        var run = new CopyRun(first + i, j - i, kind, cs);
                        // Ordered first: the bounded channel is what holds the readers back.
                        if (!ordered.TryWrite(run)) ordered.WriteAsync(run, ct).AsTask().GetAwaiter().GetResult();
                        if (kind == ClusterAction.Copy) jobs.TryWrite(run);
                    }
                    i = j;
                }
                offset = Math.Min(size, offset + clusters * cs);
                ordered.TryWrite(CopyRun.Progress(offset));
            }
            ordered.TryComplete();
        }
        catch (Exception e)
        {
            ordered.TryComplete(e);
        }
        finally
        {
            jobs.TryComplete();
        }
    }

    private static CopyResult Consume(ChannelReader<CopyRun> ordered, Qcow2PointWriter writer, bool full, int cs, long size,
        IProgress<long>? progress, CancellationToken ct)
    {
        long bytes = 0, data = 0, zeros = 0;
        while (ordered.WaitToReadAsync(ct).AsTask().GetAwaiter().GetResult())
        {
            while (ordered.TryRead(out var run))
            {
                if (run.Kind == ClusterAction.Skip)
                {
                    progress?.Report(run.FirstCluster);     // a progress marker: the offset covered so far
                    continue;
                }
                if (run.Kind == ClusterAction.Zero)
                {
                    for (var c = 0; c < run.Count; c++) writer.WriteZero(run.FirstCluster + c);
                    zeros += run.Count;
                    continue;
                }
                try
                {
                    run.Done.Task.WaitAsync(ct).GetAwaiter().GetResult();
                    bytes += Math.Min((long)run.Count * cs, size - run.FirstCluster * cs);
                    // Clusters that read as zeros are not stored: a full point leaves them out, an incremental marks them zero.
                    var memory = run.Buffer!.AsMemory(0, run.Count * cs);
                    var span = memory.Span;
                    var c = 0;
                    while (c < run.Count)
                    {
                        var isZero = span.Slice(c * cs, cs).IndexOfAnyExcept((byte)0) < 0;
                        var e = c + 1;
                        while (e < run.Count && (span.Slice(e * cs, cs).IndexOfAnyExcept((byte)0) < 0) == isZero) e++;
                        if (!isZero)
                        {
                            // The writer writes from the buffer later: it stays lent until the writer is done with it.
                            run.AddUser();
                            writer.WriteData(run.FirstCluster + c, memory.Slice(c * cs, (e - c) * cs), run.Release);
                            data += e - c;
                        }
                        else if (!full)
                        {
                            for (var z = c; z < e; z++) writer.WriteZero(run.FirstCluster + z);
                            zeros += e - c;
                        }
                        c = e;
                    }
                }
                finally
                {
                    run.Release();
                }
                progress?.Report(Math.Min(size, (run.FirstCluster + run.Count) * cs));
            }
        }
        ordered.Completion.GetAwaiter().GetResult();
        return new CopyResult(bytes, data, zeros, size);
    }
}
