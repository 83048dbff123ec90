namespace DmEra.Metadata.Era.Xml;

/// <summary>
/// A forward-only read stream that first yields bytes already taken from <c>rest</c>, then the rest
/// of it: lets a sniffer look at the start of a non-seekable input and still hand the parser all of it.
/// Does not own <c>rest</c>.
/// </summary>
internal sealed class PrefixedStream : Stream
{
    private readonly byte[] _prefix;
    private readonly int _prefixLength;
    private readonly Stream _rest;
    private int _prefixPosition;

    public PrefixedStream(byte[] prefix, int prefixLength, Stream rest)
    {
        _prefix = prefix;
        _prefixLength = prefixLength;
        _rest = rest;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_prefixPosition < _prefixLength)
        {
            var n = Math.Min(buffer.Length, _prefixLength - _prefixPosition);
            _prefix.AsSpan(_prefixPosition, n).CopyTo(buffer);
            _prefixPosition += n;
            return n;
        }
        return _rest.Read(buffer);
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
