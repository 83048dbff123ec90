using DmEra.Nbd.Exports;
using DmEra.Nbd.Session;
using DmEra.Nbd.Tests.Support;

namespace DmEra.Nbd.Tests.Protocol;

/// <summary>
/// Replies of requests answered inline are held while the reader still has requests buffered (one send for
/// many replies). A client that pipelines faster than it is served must not make that hold unbounded.
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

    /// <summary>Counts the bytes the server writes to its end of the connection.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        private long _written;
        public long Written => Interlocked.Read(ref _written);
        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => inner.ReadAsync(buffer, ct);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => inner.ReadAsync(buffer, offset, count, ct);
        public override void Write(byte[] buffer, int offset, int count)
        {
            Interlocked.Add(ref _written, count);
            inner.Write(buffer, offset, count);
        }
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            Interlocked.Add(ref _written, buffer.Length);
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
    private sealed class ObservingExport(MemoryExport inner, CountingStream wire) : INbdExport
    {
        private int _reads;
        public int Reads => Volatile.Read(ref _reads);
        public long WrittenBeforeLastRead { get; private set; }
        public long Size => inner.Size;
        public NbdExportCapabilities Capabilities => inner.Capabilities;
        public int PreferredBlockSize => inner.PreferredBlockSize;
        public string? Description => inner.Description;
        public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
        {
            if (Interlocked.Increment(ref _reads) == (int)(Size / buffer.Length)) WrittenBeforeLastRead = wire.Written;
            return inner.ReadAsync(offset, buffer, ct);
        }
        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct) => inner.WriteAsync(offset, data, fua, ct);
        public ValueTask FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
        public ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken ct) => inner.TrimAsync(offset, length, fua, ct);
        public ValueTask WriteZeroesAsync(long offset, long length, NbdZeroFlags flags, CancellationToken ct) => inner.WriteZeroesAsync(offset, length, flags, ct);
        public ValueTask CacheAsync(long offset, long length, CancellationToken ct) => inner.CacheAsync(offset, length, ct);
        public IEnumerable<string> ListMetaContexts(string query) => inner.ListMetaContexts(query);
        public INbdMetaContext? ResolveMetaContext(string name) => inner.ResolveMetaContext(name);
    }
}
