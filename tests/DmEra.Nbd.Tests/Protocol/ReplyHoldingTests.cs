using DmEra.Nbd.Exports;
using DmEra.Nbd.Session;
using DmEra.Nbd.Tests.Support;
using DmEra.Storage;

namespace DmEra.Nbd.Tests.Protocol;

/// <summary>
/// Replies of requests answered inline are held while the reader still has requests buffered (one send for
/// many replies). A client that pipelines faster than it is served must not make that hold unbounded.
/// Requests completed together by one thread (a group commit's release) send their replies together too.
/// </summary>
public sealed class ReplyHoldingTests
{
    [Fact]
    public async Task Held_replies_go_out_before_a_long_pipelined_burst_is_fully_read()
    {
        const int Requests = 2000;
        const int Length = 4096;
        var (client, server) = DuplexPipeStream.CreatePair();
        var counted = new CountingStream(server);
        var export = new ObservingExport(new MemoryExport(Requests * (long)Length), counted);
        using var cts = new CancellationTokenSource(SessionHarness.SessionTimeout);
        var session = Task.Run(() => new NbdSession(new NbdExportCatalog().Add("mem", export)).RunAsync(counted, "test", cts.Token));
        var nbd = new RawNbdClient(client);
        await nbd.GoAsync("mem", structured: false);

        // The whole burst in one write: the server's reader then has every request buffered at once.
        var burst = new MemoryStream();
        for (int i = 0; i < Requests; i++) burst.Write(RawNbdClient.Request(0, (ulong)i, (ulong)i * Length, Length));
        var replies = Task.Run(async () =>
        {
            for (int i = 0; i < Requests; i++)
            {
                var reply = await nbd.ReadMessageAsync(Length);
                Assert.Equal(0u, reply.Error);
            }
        });
        await nbd.WriteAsync(burst.ToArray());
        await replies.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(Requests, export.Reads);
        // Before the last request was served, the server had sent all but a bounded tail: the held replies
        // plus those of requests still in flight (waiting for the reply lock while the client catches up).
        long unsentAtLast = (long)(Requests - 1) * (16 + Length) - export.WrittenBeforeLastRead;
        Assert.InRange(unsentAtLast, 0, ReplyWriter.MaxHeldBytes + (new NbdServerLimits().MaxInFlightRequests + 1) * (16L + Length));

        await nbd.DisposeAsync();
        await session.WaitAsync(TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task Replies_of_requests_completed_in_one_batch_leave_in_one_write()
    {
        const int Requests = 12;
        var (client, server) = DuplexPipeStream.CreatePair();
        var counted = new CountingStream(server);
        var export = new HeldWritesExport(new MemoryExport(1 << 20));
        using var cts = new CancellationTokenSource(SessionHarness.SessionTimeout);
        var session = Task.Run(() => new NbdSession(new NbdExportCatalog().Add("mem", export)).RunAsync(counted, "test", cts.Token));
        var nbd = new RawNbdClient(client);
        await nbd.GoAsync("mem", structured: false);

        for (int i = 0; i < Requests; i++)
            await nbd.SendRequestAsync(1, (ulong)i, (ulong)i * 4096, 4096, payload: new byte[4096]);
        // Every write waits in the export and the reader waits for the socket: it has sent what it held (uncorked).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (export.Held < Requests || counted.PendingReads == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{export.Held} writes held, {counted.PendingReads} reads pending");
            await Task.Delay(5);
        }
        var writesBefore = counted.Writes;

        await Task.Run(() => CompletionBatch.Run(export, static e => e.CompleteAll()));
        for (int i = 0; i < Requests; i++)
            Assert.Equal(0u, (await nbd.ReadMessageAsync().WaitAsync(TimeSpan.FromSeconds(15))).Error);
        Assert.Equal(1, counted.Writes - writesBefore);

        await nbd.DisposeAsync();
        await session.WaitAsync(TimeSpan.FromSeconds(15));
    }

    /// <summary>Holds every write until <see cref="CompleteAll"/>, whose caller's thread then runs their continuations inline.</summary>
    private sealed class HeldWritesExport(MemoryExport inner) : ForwardingExport(inner)
    {
        private readonly List<TaskCompletionSource> _held = new();
        public int Held
        {
            get { lock (_held) return _held.Count; }
        }
        public void CompleteAll()
        {
            TaskCompletionSource[] held;
            lock (_held) held = _held.ToArray();
            foreach (var h in held) h.TrySetResult();
        }
        public override ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct)
        {
            var done = new TaskCompletionSource();   // continuations inline, as a first write's release runs them
            lock (_held) _held.Add(done);
            return new ValueTask(done.Task);
        }
    }

    /// <summary>Counts the bytes (and write calls) the server writes to its end of the connection, and its reads waiting for bytes.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        private long _written;
        private int _writes;
        private int _pendingReads;
        public long Written => Interlocked.Read(ref _written);
        public int Writes => Volatile.Read(ref _writes);
        public int PendingReads => Volatile.Read(ref _pendingReads);
        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            Interlocked.Increment(ref _pendingReads);
            try { return await inner.ReadAsync(buffer, ct); }
            finally { Interlocked.Decrement(ref _pendingReads); }
        }
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
        public override void Write(byte[] buffer, int offset, int count)
        {
            Interlocked.Add(ref _written, count);
            Interlocked.Increment(ref _writes);
            inner.Write(buffer, offset, count);
        }
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            Interlocked.Add(ref _written, buffer.Length);
            Interlocked.Increment(ref _writes);
            return inner.WriteAsync(buffer, ct);
        }
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>Serves reads inline and notes how much the server had written when the last one came.</summary>
    private sealed class ObservingExport(MemoryExport inner, CountingStream wire) : ForwardingExport(inner)
    {
        private int _reads;
        public int Reads => Volatile.Read(ref _reads);
        public long WrittenBeforeLastRead { get; private set; }
        public override ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
        {
            if (Interlocked.Increment(ref _reads) == (int)(Size / buffer.Length)) WrittenBeforeLastRead = wire.Written;
            return Inner.ReadAsync(offset, buffer, ct);
        }
    }
}
