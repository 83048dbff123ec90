using System.Buffers;
using System.Buffers.Binary;
using DmEra.Nbd.Protocol;

namespace DmEra.Nbd.Session;

/// <summary>READ and BLOCK_STATUS: the replies that carry data.</summary>
internal sealed partial class Transmission
{
    /// <summary>A read with more zero/data alternations than this goes as one data chunk (headers would outweigh the savings).</summary>
    private const int MaxSparseReadChunks = 64;

    /// <summary>Zero detection in sparse reads works on runs of this many bytes: big enough to be worth a chunk header.</summary>
    private const int SparseGranuleBytes = 64 * 1024;

    private async ValueTask ReadAsync(NbdRequest r, CancellationToken ct)
    {
        if (r.Length == 0)
        {
            await (_structured ? _replies.NoneChunkAsync(r.Cookie, ct) : _replies.SimpleAsync(r.Cookie, NbdError.None, ct)).ConfigureAwait(false);
            return;
        }
        int prefix = _structured ? NbdWireSize.StructuredReplyHeader + 8 : NbdWireSize.SimpleReplyHeader;
        int total = prefix + (int)r.Length;
        // Read straight into the reply buffer behind its header, so a plain reply is one write. On a read error
        // nothing has been sent yet, so the caller can still answer with an error.
        var buffer = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            await _export.ReadAsync((long)r.Offset, buffer.AsMemory(prefix, (int)r.Length), ct).ConfigureAwait(false);
            bool sparse = _structured && r.Length >= _limits.SparseReadMinBytes && (r.Flags & CommandFlags.DontFragment) == 0;
            if (sparse && await TrySendSparseAsync(r, buffer.AsMemory(prefix, (int)r.Length), ct).ConfigureAwait(false)) return;
            if (_structured)
            {
                ReplyWriter.ChunkHeader(buffer, ReplyChunkFlags.Done, ReplyChunkType.OffsetData, r.Cookie, 8 + (int)r.Length);
                BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(NbdWireSize.StructuredReplyHeader), r.Offset);
            }
            else
            {
                ReplyWriter.SimpleHeader(buffer, NbdError.None, r.Cookie);
            }
            if (_lane?.IsCurrentThread == true) _replies.WriteBlocking(_laneSocket!, buffer.AsMemory(0, total), default, ct);
            else await _replies.WriteAsync(buffer.AsMemory(0, total), ct).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
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
