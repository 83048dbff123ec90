using System.Buffers;
using System.Threading.Channels;

namespace DmEra.Backup;

/// <summary>What one copy did.</summary>
public sealed record CopyResult(long BytesCopied, long DataClusters, long ZeroClusters, long VirtualSize);

/// <summary>
/// Copies an NBD export into a <see cref="Qcow2PointWriter"/>: block status (base:allocation and, for
/// an incremental, the dirty context) decides each cluster; data runs are read by several connections
/// at once and laid out in order (the writer's threads then write them). Memory is bounded by
/// <see cref="InFlight"/> runs of at most <see cref="RunBytes"/> plus those the writer still writes,
/// whatever the volume size.
/// </summary>
public sealed class PointCopier
{
    public const string Allocation = "base:allocation";
    /// <summary>Largest read: 2 MiB, within every server's maximum request and large enough to amortise a round trip.</summary>
    public const int RunBytes = 2 << 20;
    /// <summary>Runs read or waiting for the writer: 8 keep 4 connections busy (16 measured no faster, 16 MiB more resident).</summary>
    private const int InFlight = 8;
    /// <summary>
    /// The runs' buffers, kept for reuse: the shared pool keeps only a few buffers this large per core, so
    /// with runs at the writer too it would allocate fresh ones (measured: peak RSS ~10 MB lower, CPU alike).
    /// </summary>
    private static readonly ArrayPool<byte> Buffers = ArrayPool<byte>.Create(RunBytes, 64);
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
        var contexts = dirtyContext is null ? new[] { Allocation } : new[] { Allocation, dirtyContext };
        var c = NbdConnection.Open(uri, contexts);
        if (dirtyContext is not null && !c.HasContext(dirtyContext))
        {
            c.Dispose();
            throw new BackupException($"{uri}: the export offers no context {dirtyContext}");
        }
        return c;
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
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var jobs = Channel.CreateUnbounded<Run>();
        var ordered = Channel.CreateBounded<Run>(InFlight);
        var workers = new List<Task>();
        try
        {
            for (var i = 1; i < _connections; i++) readers.Add(NbdConnection.Open(_uri, []));
            foreach (var r in readers) workers.Add(Task.Run(() => ReadLoop(r, jobs.Reader, size, stop.Token)));
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
            // Drain what was queued so no pooled buffer or reader outlives the copy.
            while (ordered.Reader.TryRead(out var left)) left.Release();
            try { Task.WaitAll([.. workers]); } catch (AggregateException) { }
            for (var i = 1; i < readers.Count; i++) readers[i].Dispose();
        }
    }

    private static void Produce(NbdConnection primary, long size, int cs, bool hasAllocation, string? dirtyContext, bool full,
        int runClusters, ChannelWriter<Run> jobs, ChannelWriter<Run> ordered, CancellationToken ct)
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
                        var run = new Run(first + i, j - i, kind, cs);
                        // Ordered first: the bounded channel is what holds the readers back.
                        if (!ordered.TryWrite(run)) ordered.WriteAsync(run, ct).AsTask().GetAwaiter().GetResult();
                        if (kind == ClusterAction.Copy) jobs.TryWrite(run);
                    }
                    i = j;
                }
                offset = Math.Min(size, offset + clusters * cs);
                ordered.TryWrite(Run.Progress(offset));
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

    private static async Task ReadLoop(NbdConnection connection, ChannelReader<Run> jobs, long size, CancellationToken ct)
    {
        try
        {
            await foreach (var run in jobs.ReadAllAsync(ct).ConfigureAwait(false))
            {
                try
                {
                    run.Buffer = Buffers.Rent(run.Count * run.ClusterSize);
                    var from = run.FirstCluster * run.ClusterSize;
                    var length = (int)Math.Min((long)run.Count * run.ClusterSize, size - from);
                    connection.Read(from, run.Buffer.AsSpan(0, length));
                    run.Buffer.AsSpan(length, run.Count * run.ClusterSize - length).Clear();
                    run.Done.TrySetResult();
                }
                catch (Exception e)
                {
                    run.Done.TrySetException(e);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static CopyResult Consume(ChannelReader<Run> ordered, Qcow2PointWriter writer, bool full, int cs, long size,
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
                    var memory = run.Buffer.AsMemory(0, run.Count * cs);
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
                            run.AddRef();
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

    /// <summary>A run of clusters with one action; a Copy run carries its read buffer once read.</summary>
    private sealed class Run(long firstCluster, int count, ClusterAction kind, int clusterSize)
    {
        public long FirstCluster { get; } = firstCluster;
        public int Count { get; } = count;
        public ClusterAction Kind { get; } = kind;
        public int ClusterSize { get; } = clusterSize;
        public byte[]? Buffer { get; set; }
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>A Skip marker carrying the byte offset covered so far (for the progress bar).</summary>
        public static Run Progress(long offset) => new(offset, 0, ClusterAction.Skip, 0);

        private int _refs = 1;

        public void AddRef() => Interlocked.Increment(ref _refs);

        /// <summary>Returns the buffer once its last user (the consumer, the writer's writes) is done and its read has ended.</summary>
        public void Release()
        {
            if (Interlocked.Decrement(ref _refs) != 0) return;
            Done.Task.ContinueWith(_ =>
            {
                if (Buffer is { } b)
                {
                    Buffer = null;
                    Buffers.Return(b);
                }
            }, TaskScheduler.Default);
        }
    }
}
