namespace DmEra.Micro.Bench.Nbd;

/// <summary>
/// The server's side of a connection whose client sends a <see cref="ClientScript"/> and reads nothing back:
/// every read completes at once with the rest of the current burst, every write is counted (and kept only
/// when <paramref name="captureReplies"/> asks, to check them). No socket, no syscall, no thread hop: what
/// remains of serving a request is the session code.
/// </summary>
public sealed class ScriptedClientStream(ClientScript script, bool captureReplies = false) : Stream
{
    private readonly MemoryStream? _replies = captureReplies ? new MemoryStream() : null;
    private int _position;
    private int _arrival;

    public long BytesWritten { get; private set; }

    /// <summary>What the server wrote; only with captureReplies.</summary>
    public byte[] Replies => _replies?.ToArray() ?? throw new InvalidOperationException("replies were not captured");

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(Span<byte> buffer)
    {
        var ends = script.ArrivalEnds;
        while (_arrival < ends.Length - 1 && _position >= ends[_arrival]) _arrival++;
        var n = Math.Min(buffer.Length, ends[_arrival] - _position);
        script.Bytes.AsSpan(_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    // Stream's default async methods queue work to the thread pool; a client that is always ready must not.
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        BytesWritten += buffer.Length;
        _replies?.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override void Flush() { }
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
