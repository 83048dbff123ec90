using System.Buffers;
using System.Buffers.Binary;
using DmEra.Nbd.Protocol;
using Microsoft.Extensions.Logging;

namespace DmEra.Nbd.Session;

/// <summary>READ and BLOCK_STATUS: the replies that carry data.</summary>
internal sealed partial class Transmission
{
    /// <summary>A read with more zero/data alternations than this goes as one data chunk (headers would outweigh the savings).</summary>
    private const int MaxSparseReadChunks = 64;

    /// <summary>Zero detection in sparse reads works on runs of this many bytes: big enough to be worth a chunk header.</summary>
    private const int SparseGranuleBytes = 64 * 1024;

    /// <summary>
    /// Before a sparse-eligible read goes by sendfile, this much of each granule's start is read: a nonzero byte
    /// in every sample proves no granule is all zeroes (one small pread each, against a 64 KiB copy saved).
    /// </summary>
    private const int ZeroSampleBytes = 512;

    private async ValueTask ReadAsync(NbdRequest r, CancellationToken ct)
    {
        if (r.Length == 0)
        {
            await (_structured ? _replies.NoneChunkAsync(r.Cookie, ct) : _replies.SimpleAsync(r.Cookie, NbdError.None, ct)).ConfigureAwait(false);
            return;
        }
        int prefix = _structured ? NbdWireSize.StructuredReplyHeader + 8 : NbdWireSize.SimpleReplyHeader;
        bool sparse = _structured && r.Length >= _limits.SparseReadMinBytes && (r.Flags & CommandFlags.DontFragment) == 0;
        if (_fileRanges is not null && _lane?.IsCurrentThread == true && TrySendFileRange(r, prefix, sparse, ct)) return;
        int total = prefix + (int)r.Length;
        // Read straight into the reply buffer behind its header, so a plain reply is one write. On a read error
        // nothing has been sent yet, so the caller can still answer with an error.
        var buffer = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            await _export.ReadAsync((long)r.Offset, buffer.AsMemory(prefix, (int)r.Length), ct).ConfigureAwait(false);
            if (sparse && await TrySendSparseAsync(r, buffer.AsMemory(prefix, (int)r.Length), ct).ConfigureAwait(false)) return;
            DataReplyHeader(r, buffer);
            if (_lane?.IsCurrentThread == true) _replies.WriteBlocking(_laneSocket!, buffer.AsMemory(0, total), default, ct);
            else await _replies.WriteAsync(buffer.AsMemory(0, total), ct).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The header of a reply carrying the whole read as data: a simple reply, or one OFFSET_DATA chunk marked DONE.</summary>
    private void DataReplyHeader(NbdRequest r, Span<byte> destination)
    {
        if (_structured)
        {
            ReplyWriter.ChunkHeader(destination, ReplyChunkFlags.Done, ReplyChunkType.OffsetData, r.Cookie, 8 + (int)r.Length);
            BinaryPrimitives.WriteUInt64BigEndian(destination[NbdWireSize.StructuredReplyHeader..], r.Offset);
        }
        else
        {
            ReplyWriter.SimpleHeader(destination, NbdError.None, r.Cookie);
        }
    }

    /// <summary>
    /// A bulk read on a plain socket from an export whose bytes lie in a file: the reply header, then sendfile
    /// from the file into the socket (no copy through a buffer of ours). False (nothing sent) when the export
    /// gives no file range, or when a sparse-eligible read may hold an all-zero granule, which the copying path
    /// sends as a hole: the reply on the wire is then the one the copying path would send.
    /// </summary>
    private bool TrySendFileRange(NbdRequest r, int prefix, bool sparse, CancellationToken ct)
    {
        Span<byte> header = stackalloc byte[prefix];
        DataReplyHeader(r, header);
        int length = (int)r.Length;
        try
        {
            return _replies.TrySendFileBlocking(_laneSocket!, header, () =>
            {
                var range = _fileRanges!.TryLeaseFileRange((long)r.Offset, length);
                if (range is null || !sparse || !SocketSend.MayHoldZeroGranule(range, length, SparseGranuleBytes, ZeroSampleBytes)) return range;
                range.Dispose();
                return null;
            }, length, ct);
        }
        catch (ReplyFailedException e) when (e.InnerException is FileRangeFailedException failed)
        {
            _log.LogWarning("NBD export '{Export}' failed READ at {Offset}+{Length} for {Peer} after its reply header was sent ({Message}); closing the connection",
                _connection.ExportName, r.Offset, r.Length, _peer, failed.Message);
            throw;
        }
    }

    /// <summary>
    /// Sends runs of all-zero granules as OFFSET_HOLE chunks and the rest as OFFSET_DATA, the last chunk marked
    /// DONE. Zeroes are found in the data already read, so this works for any export and costs no extra I/O;
    /// returns false (nothing sent) when the data has no zero granule.
    /// </summary>
    private async ValueTask<bool> TrySendSparseAsync(NbdRequest r, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        var runs = new List<(int Start, int Length, bool Zero)>();
        for (int at = 0; at < data.Length; at += SparseGranuleBytes)
        {
            int n = Math.Min(SparseGranuleBytes, data.Length - at);
            bool zero = !data.Span.Slice(at, n).ContainsAnyExcept((byte)0);
            if (runs.Count > 0 && runs[^1].Zero == zero) runs[^1] = (runs[^1].Start, runs[^1].Length + n, zero);
            else runs.Add((at, n, zero));
        }
        if (!runs.Exists(x => x.Zero) || runs.Count > MaxSparseReadChunks) return false;
        for (int i = 0; i < runs.Count; i++)
        {
            var (start, length, zero) = runs[i];
            bool done = i == runs.Count - 1;
            ulong at = r.Offset + (ulong)start;
            if (zero)
            {
                await _replies.HoleChunkAsync(r.Cookie, done, at, (uint)length, ct).ConfigureAwait(false);
                continue;
            }
            var header = new byte[NbdWireSize.StructuredReplyHeader + 8];
            ReplyWriter.ChunkHeader(header, done ? ReplyChunkFlags.Done : ReplyChunkFlags.None, ReplyChunkType.OffsetData, r.Cookie, 8 + length);
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(NbdWireSize.StructuredReplyHeader), at);
            var slice = data.Slice(start, length);
            await _replies.WriteAsync(header, slice, ct).ConfigureAwait(false);
        }
        return true;
    }

    /// <summary>One BLOCK_STATUS chunk per selected context, all in one write, the last marked DONE.</summary>
    private async ValueTask BlockStatusAsync(NbdRequest r, CancellationToken ct)
    {
        bool reqOne = (r.Flags & CommandFlags.ReqOne) != 0;
        var answers = new List<(uint Id, NbdExtentList Extents)>(_contexts.Count);
        foreach (var (id, context) in _contexts)
        {
            var extents = new NbdExtentList(reqOne ? 1 : _limits.MaxExtentsPerReply, r.Length);
            await context.GetExtentsAsync((long)r.Offset, r.Length, extents, ct).ConfigureAwait(false);
            if (extents.Count == 0) throw new NbdException(NbdError.IoError, $"context {context.Name} described no extent");
            answers.Add((id, extents));
        }

        int total = 0;
        foreach (var (_, extents) in answers) total += NbdWireSize.StructuredReplyHeader + 4 + 8 * extents.Count;
        var buffer = new byte[total];
        int pos = 0;
        for (int a = 0; a < answers.Count; a++)
        {
            var (id, extents) = answers[a];
            int chunkStart = pos;
            pos += NbdWireSize.StructuredReplyHeader;
            BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(pos), id);
            pos += 4;
            // Extents are clipped to the request, so none is empty and all fit in 32 bits.
            long remaining = r.Length;
            int written = 0;
            for (int i = 0; i < extents.Count && remaining > 0; i++, written++)
            {
                long length = Math.Min(extents[i].Length, remaining);
                remaining -= length;
                BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(pos), (uint)length);
                BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(pos + 4), extents[i].Flags);
                pos += 8;
            }
            bool done = a == answers.Count - 1;
            ReplyWriter.ChunkHeader(buffer.AsSpan(chunkStart), done ? ReplyChunkFlags.Done : ReplyChunkFlags.None,
                ReplyChunkType.BlockStatus, r.Cookie, 4 + 8 * written);
            // Extents dropped by clipping leave the chunk shorter than reserved; close the gap.
            int unused = 8 * (extents.Count - written);
            if (unused > 0)
            {
                buffer.AsSpan(pos + unused, total - pos - unused).CopyTo(buffer.AsSpan(pos));
                total -= unused;
            }
        }
        await _replies.WriteAsync(buffer.AsMemory(0, total), ct).ConfigureAwait(false);
    }
}
