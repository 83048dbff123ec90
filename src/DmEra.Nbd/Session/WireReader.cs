using System.Buffers;
using System.IO.Pipelines;

namespace DmEra.Nbd.Session;

/// <summary>Exact-length reads over a PipeReader: short reads are normal, EOF mid-message is not.</summary>
internal sealed class WireReader
{
    /// <summary>Pipe segment size: large enough that a 4 KiB write and its header arrive in one read.</summary>
    private const int PipeBufferBytes = 64 * 1024;

    /// <summary>Reads at least this big bypass the pipe once its buffer is drained, saving a copy of write payloads.</summary>
    private const int DirectReadBytes = 16 * 1024;

    private readonly PipeReader _reader;
    private readonly Stream _stream;

    public WireReader(Stream stream)
    {
        _stream = stream;
        _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: PipeBufferBytes, minimumReadSize: 4096, leaveOpen: true));
    }

    /// <summary>Called before a read that has to wait for the peer (nothing buffered), e.g. to flush held replies.</summary>
    public Func<CancellationToken, ValueTask>? BeforeBlockingRead { get; set; }

    private ValueTask BeforeBlockingAsync(CancellationToken ct) =>
        BeforeBlockingRead is { } hook && !HasBufferedBytes() ? hook(ct) : ValueTask.CompletedTask;

    /// <summary>
    /// Fills <paramref name="destination"/>. Returns false if the peer closed before sending any byte of it;
    /// throws <see cref="EndOfStreamException"/> if it closed part-way.
    /// </summary>
    public async ValueTask<bool> ReadExactAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        int filled = 0;
        while (filled < destination.Length)
        {
            if (destination.Length - filled >= DirectReadBytes && !HasBufferedBytes())
            {
                // The pipe holds nothing and only reads from the stream when asked, so reading the stream
                // directly here cannot reorder bytes.
                if (BeforeBlockingRead is { } hook) await hook(cancellationToken).ConfigureAwait(false);
                int n = await _stream.ReadAsync(destination[filled..], cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    if (filled == 0) return false;
                    throw new EndOfStreamException($"peer closed the connection {destination.Length - filled} bytes short of a message");
                }
                filled += n;
                continue;
            }
            await BeforeBlockingAsync(cancellationToken).ConfigureAwait(false);
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            int take = (int)Math.Min(buffer.Length, destination.Length - filled);
            buffer.Slice(0, take).CopyTo(destination.Span[filled..]);
            filled += take;
            _reader.AdvanceTo(buffer.GetPosition(take));
            if (take == 0 && result.IsCompleted)
            {
                if (filled == 0) return false;
                throw new EndOfStreamException($"peer closed the connection {destination.Length - filled} bytes short of a message");
            }
        }
        return true;
    }

    /// <summary>Reads exactly, treating even a clean EOF as truncation.</summary>
    public async ValueTask ReadRequiredAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (!await ReadExactAsync(destination, cancellationToken).ConfigureAwait(false) && destination.Length > 0)
            throw new EndOfStreamException("peer closed the connection before a message");
    }

    /// <summary>Discards <paramref name="count"/> bytes without buffering them.</summary>
    public async ValueTask SkipAsync(long count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            await BeforeBlockingAsync(cancellationToken).ConfigureAwait(false);
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            long take = Math.Min(result.Buffer.Length, count);
            _reader.AdvanceTo(result.Buffer.GetPosition(take));
            count -= take;
            if (take == 0 && result.IsCompleted) throw new EndOfStreamException("peer closed the connection inside a payload");
        }
    }

    /// <summary>True when bytes the peer sent are already buffered (used to refuse data smuggled before TLS).</summary>
    public bool HasBufferedBytes()
    {
        if (!_reader.TryRead(out var result)) return false;
        bool any = result.Buffer.Length > 0;
        _reader.AdvanceTo(result.Buffer.Start);
        return any;
    }

    public ValueTask CompleteAsync() => _reader.CompleteAsync();
}
