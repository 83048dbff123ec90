using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using DmEra.Nbd.Protocol;
using DmEra.Storage;

namespace DmEra.Nbd.Session;

/// <summary>
/// Serialises replies of concurrently executing requests onto the one output stream. Each reply (or chunk)
/// is written whole under the lock so replies of different requests never interleave inside a message.
/// Small replies are gathered in a pipe and flushed by the last writer in line, so under load many replies
/// leave in one send; large ones go straight to the stream to avoid a copy.
/// </summary>
internal sealed class ReplyWriter
{
    /// <summary>Error text in ERROR chunks is clipped to this; clients only log it.</summary>
    private const int MaxErrorMessageBytes = 1024;

    /// <summary>Replies at least this big skip the gathering pipe: the copy would cost more than the extra send.</summary>
    private const int DirectWriteBytes = 64 * 1024;

    /// <summary>
    /// Held (corked) replies are sent once this much has gathered: a client that keeps the reader busy with
    /// pipelined requests must not make the server hold its replies without bound.
    /// </summary>
    internal const int MaxHeldBytes = 256 * 1024;

    private readonly Stream _stream;
    private readonly PipeWriter _pipe;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly Action _flushDeferred;
    private int _waiting;
    private bool _corked;
    private bool _flushIsDeferred;   // under _lock: a completion batch will flush at its end
    private CancellationToken _deferredToken;

    public ReplyWriter(Stream stream)
    {
        _stream = stream;
        _pipe = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 16 * 1024, leaveOpen: true));
        _flushDeferred = () => _ = FlushDeferredAsync();
    }

    // Every method that writes turns a lost connection into ReplyFailedException, so callers tell "the
    // client is gone" from a failed request without wrapping each call.

    public ValueTask WriteAsync(ReadOnlyMemory<byte> message, CancellationToken ct) => WriteAsync(message, default, ct);

    /// <summary>Writes <paramref name="first"/> then <paramref name="second"/> as one unit.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> first, ReadOnlyMemory<byte> second, CancellationToken ct)
    {
        bool last = await EnterAsync(ct).ConfigureAwait(false);
        try
        {
            if (first.Length + second.Length >= DirectWriteBytes)
            {
                await FlushPipeAsync(ct).ConfigureAwait(false);
                await _stream.WriteAsync(first, ct).ConfigureAwait(false);
                if (!second.IsEmpty) await _stream.WriteAsync(second, ct).ConfigureAwait(false);
                await _stream.FlushAsync(ct).ConfigureAwait(false);
                return;
            }
            _pipe.Write(first.Span);
            if (!second.IsEmpty) _pipe.Write(second.Span);
            await AfterGatheredAsync(last, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (ReplyFailedException.IsConnectionLoss(e))
        {
            throw new ReplyFailedException(e);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// As <see cref="WriteAsync(ReadOnlyMemory{byte}, ReadOnlyMemory{byte}, CancellationToken)"/> for a large
    /// message, in blocking calls: for a <see cref="BulkReadLane"/>'s thread, which has nothing else to do
    /// meanwhile, and never has to hop through the thread pool: a send that has to wait for the peer blocks,
    /// sleeping in the kernel (<see cref="SocketSend"/>) on <paramref name="socket"/>, the one under the stream.
    /// The lane's owner shuts the socket down on abort, which ends a send blocked on a peer that stopped reading.
    /// </summary>
    public void WriteBlocking(System.Net.Sockets.Socket socket, ReadOnlyMemory<byte> first, ReadOnlyMemory<byte> second, CancellationToken ct)
    {
        EnterBlocking(ct);
        try
        {
            SocketSend.All(socket, first.Span);
            if (!second.IsEmpty) SocketSend.All(socket, second.Span);
        }
        catch (Exception e) when (ReplyFailedException.IsConnectionLoss(e))
        {
            throw new ReplyFailedException(e);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// As <see cref="WriteBlocking"/>, the message being <paramref name="header"/> and then <paramref name="length"/>
    /// bytes of a file range sent by sendfile (<see cref="SocketSend.SendFile"/>). The range is leased from
    /// <paramref name="lease"/> only once this writer holds the lock, so no lease waits behind another reply's
    /// send to a slow peer; false (nothing sent) when it gives none. Its exceptions propagate, nothing sent.
    /// A failure of the file after the header is out ends the connection like a lost one.
    /// </summary>
    public bool TrySendFileBlocking(System.Net.Sockets.Socket socket, ReadOnlySpan<byte> header, Func<NbdFileRange?> lease, int length, CancellationToken ct)
    {
        EnterBlocking(ct);
        NbdFileRange? range;
        try
        {
            range = lease();   // its errors are the request's, not the connection's
        }
        catch
        {
            _lock.Release();
            throw;
        }
        if (range is null)
        {
            _lock.Release();
            return false;
        }
        try
        {
            SocketSend.SendFile(socket, header, range, length);   // disposes the lease
            return true;
        }
        catch (Exception e) when (ReplyFailedException.IsConnectionLoss(e))
        {
            throw new ReplyFailedException(e);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Takes the lock in a blocking wait and sends what the gathering pipe holds; the caller releases the lock.</summary>
    private void EnterBlocking(CancellationToken ct)
    {
        Interlocked.Increment(ref _waiting);
        try
        {
            _lock.Wait(ct);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
        try
        {
            if (_pipe.UnflushedBytes > 0) FlushPipeAsync(ct).AsTask().GetAwaiter().GetResult();
            ct.ThrowIfCancellationRequested();
        }
        catch (Exception e)
        {
            _lock.Release();
            if (ReplyFailedException.IsConnectionLoss(e)) throw new ReplyFailedException(e);
            throw;
        }
    }

    /// <summary>A simple reply (16 bytes), built in the gathering pipe: no buffer per reply.</summary>
    public async ValueTask SimpleAsync(ulong cookie, NbdError error, CancellationToken ct)
    {
        bool last = await EnterAsync(ct).ConfigureAwait(false);
        try
        {
            SimpleHeader(_pipe.GetSpan(NbdWireSize.SimpleReplyHeader), error, cookie);
            _pipe.Advance(NbdWireSize.SimpleReplyHeader);
            await AfterGatheredAsync(last, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (ReplyFailedException.IsConnectionLoss(e))
        {
            throw new ReplyFailedException(e);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Takes the lock; true when no other writer is queued behind this one.</summary>
    private async ValueTask<bool> EnterAsync(CancellationToken ct)
    {
        Interlocked.Increment(ref _waiting);
        try
        {
            await _lock.WaitAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            Interlocked.Decrement(ref _waiting);
            throw;
        }
        return Interlocked.Decrement(ref _waiting) == 0;
    }

    /// <summary>
    /// Someone queued behind us will flush; the last in line always does, unless the reader has more requests
    /// already buffered and will flush when it runs out (see the cork), this thread is completing a batch of
    /// requests and flushes once at its end (<see cref="CompletionBatch"/>: a group commit's replies leave in
    /// one send), or too much has gathered.
    /// </summary>
    private ValueTask AfterGatheredAsync(bool last, CancellationToken ct)
    {
        if (_pipe.UnflushedBytes >= MaxHeldBytes) return FlushPipeAsync(ct);
        if (!last || _corked || _flushIsDeferred) return ValueTask.CompletedTask;
        if (!CompletionBatch.TryDefer(_flushDeferred)) return FlushPipeAsync(ct);
        _flushIsDeferred = true;
        _deferredToken = ct;
        return ValueTask.CompletedTask;
    }

    /// <summary>The end of a completion batch: sends what its replies gathered (unless the reader holds them, corked).</summary>
    private async Task FlushDeferredAsync()
    {
        var ct = _deferredToken;
        try
        {
            await _lock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                _flushIsDeferred = false;
                if (!_corked) await FlushPipeAsync(ct).ConfigureAwait(false);
            }
            finally
            {
                _lock.Release();
            }
        }
        catch (Exception e) when (e is OperationCanceledException || ReplyFailedException.IsConnectionLoss(e))
        {
            // The connection is going away; its reader loop sees that on its own.
        }
    }

    /// <summary>Sends whatever replies have gathered (the end of a connection, after its requests finished).</summary>
    public async ValueTask FlushAsync(CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await FlushPipeAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (ReplyFailedException.IsConnectionLoss(e))
        {
            throw new ReplyFailedException(e);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Called by the request reader: while it still has requests buffered (corked), small replies written
    /// meanwhile are held (up to <see cref="MaxHeldBytes"/>); when it is about to wait for the socket it
    /// uncorks, sending them in one write.
    /// </summary>
    public bool IsCorked => Volatile.Read(ref _corked);

    public ValueTask SetCorkedAsync(bool corked, CancellationToken ct) =>
        corked == Volatile.Read(ref _corked) ? ValueTask.CompletedTask : ChangeCorkAsync(corked, ct);

    private async ValueTask ChangeCorkAsync(bool corked, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _corked = corked;
            if (!corked) await FlushPipeAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (ReplyFailedException.IsConnectionLoss(e))
        {
            throw new ReplyFailedException(e);
        }
        finally
        {
            _lock.Release();
        }
    }

    private async ValueTask FlushPipeAsync(CancellationToken ct)
    {
        if (_pipe.UnflushedBytes == 0) return;
        var result = await _pipe.FlushAsync(ct).ConfigureAwait(false);
        if (result.IsCompleted || result.IsCanceled) throw new IOException("the reply stream is closed");
    }

    public static void SimpleHeader(Span<byte> destination, NbdError error, ulong cookie)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdMagic.SimpleReply);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], (uint)error);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], cookie);
    }

    public static void ChunkHeader(Span<byte> destination, ReplyChunkFlags flags, ReplyChunkType type, ulong cookie, int payloadLength)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdMagic.StructuredReply);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)flags);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)type);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], cookie);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], (uint)payloadLength);
    }

    public ValueTask NoneChunkAsync(ulong cookie, CancellationToken ct)
    {
        var buffer = new byte[NbdWireSize.StructuredReplyHeader];
        ChunkHeader(buffer, ReplyChunkFlags.Done, ReplyChunkType.None, cookie, 0);
        return WriteAsync(buffer, ct);
    }

    /// <summary>A final ERROR chunk carrying a message (the spec prefers these to simple errors once structured replies are on).</summary>
    public ValueTask ErrorChunkAsync(ulong cookie, NbdError error, string message, CancellationToken ct)
    {
        var text = Encoding.UTF8.GetBytes(message);
        int textLength = Math.Min(text.Length, MaxErrorMessageBytes);
        var buffer = new byte[NbdWireSize.StructuredReplyHeader + 6 + textLength];
        ChunkHeader(buffer, ReplyChunkFlags.Done, ReplyChunkType.Error, cookie, 6 + textLength);
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(20), (uint)error);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(24), (ushort)textLength);
        text.AsSpan(0, textLength).CopyTo(buffer.AsSpan(26));
        return WriteAsync(buffer, ct);
    }

    public ValueTask HoleChunkAsync(ulong cookie, bool done, ulong offset, uint length, CancellationToken ct)
    {
        var buffer = new byte[NbdWireSize.StructuredReplyHeader + 12];
        ChunkHeader(buffer, done ? ReplyChunkFlags.Done : ReplyChunkFlags.None, ReplyChunkType.OffsetHole, cookie, 12);
        BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(20), offset);
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(28), length);
        return WriteAsync(buffer, ct);
    }
}
