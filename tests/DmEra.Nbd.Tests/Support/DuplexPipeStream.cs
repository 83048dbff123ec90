using System.IO.Pipelines;

namespace DmEra.Nbd.Tests.Support;

/// <summary>An in-memory connected pair of streams, so a session can be driven without sockets.</summary>
internal sealed class DuplexPipeStream : Stream
{
    private readonly Stream _in;
    private readonly Stream _out;
    private readonly PipeWriter _writer;

    private DuplexPipeStream(PipeReader reader, PipeWriter writer)
    {
        _in = reader.AsStream();
        _out = writer.AsStream();
        _writer = writer;
    }

    public static (DuplexPipeStream Client, DuplexPipeStream Server) CreatePair()
    {
        var toServer = new Pipe();
        var toClient = new Pipe();
        return (new DuplexPipeStream(toClient.Reader, toServer.Writer), new DuplexPipeStream(toServer.Reader, toClient.Writer));
    }

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() => _out.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => _out.FlushAsync(cancellationToken);
    public override int Read(byte[] buffer, int offset, int count) => _in.Read(buffer, offset, count);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _in.ReadAsync(buffer, cancellationToken);
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _in.ReadAsync(buffer, offset, count, cancellationToken);
    public override void Write(byte[] buffer, int offset, int count) => _out.Write(buffer, offset, count);
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => _out.WriteAsync(buffer, cancellationToken);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _out.WriteAsync(buffer, offset, count, cancellationToken);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Half-close: the peer sees EOF while this side can still read.</summary>
    public void CompleteWrites() => _writer.Complete();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _writer.Complete();
            _in.Dispose();
        }
        base.Dispose(disposing);
    }
}
