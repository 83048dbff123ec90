#nullable enable
using System.Buffers;
using System.Buffers.Binary;
using DmEra.Nbd.Protocol;

namespace DmEra.Nbd.Session;

/// <summary>READ and BLOCK_STATUS: the replies that carry data.</summary>
internal sealed partial class Transmission
{
    /// <summary>A sparse read is split into at most this many chunks; past that the rest goes as one data chunk.</summary>
    private const int MaxSparseReadExtents = 64;

    private async ValueTask ReadAsync(NbdRequest r, CancellationToken ct)
    {
        if (r.Length == 0)
        {
            await SendAsync(() => _structured ? _replies.NoneChunkAsync(r.Cookie, ct) : _replies.SimpleAsync(r.Cookie, NbdError.None, ct)).ConfigureAwait(false);
            return;
        }
        if (_structured && _allocation is not null && r.Length >= _limits.SparseReadMinBytes && (r.Flags & CommandFlags.DontFragment) == 0)
        {
            var extents = new NbdExtentList(MaxSparseReadExtents, r.Length);
            await _allocation.GetExtentsAsync((long)r.Offset, r.Length, extents, ct).ConfigureAwait(false);
            if (HasZeroExtent(extents))
            {
                await SparseReadAsync(r, extents, ct).ConfigureAwait(false);
                return;
            }
        }
        await DataChunkAsync(r.Cookie, r.Offset, r.Length, done: true, ct).ConfigureAwait(false);
    }

    private static bool HasZeroExtent(NbdExtentList extents)
    {
        for (int i = 0; i < extents.Count; i++)
            if ((extents[i].Flags & NbdMetaContexts.StateZero) != 0) return true;
        return false;
    }

    /// <summary>Sends zero extents as OFFSET_HOLE and the rest as OFFSET_DATA; the last chunk carries DONE.</summary>
    private async ValueTask SparseReadAsync(NbdRequest r, NbdExtentList extents, CancellationToken ct)
    {
        ulong at = r.Offset, end = r.Offset + r.Length;
        for (int i = 0; i < extents.Count && at < end; i++)
        {
            bool last = i == extents.Count - 1;
            ulong length = last ? end - at : Math.Min((ulong)extents[i].Length, end - at);
            bool done = at + length == end;
            if ((extents[i].Flags & NbdMetaContexts.StateZero) != 0)
            {
                ulong hole = at;
                await SendAsync(() => _replies.HoleChunkAsync(r.Cookie, done, hole, (uint)length, ct)).ConfigureAwait(false);
            }
            else
            {
                await DataChunkAsync(r.Cookie, at, (uint)length, done, ct).ConfigureAwait(false);
            }
            at += length;
        }
    }

    /// <summary>
    /// Reads straight into the reply buffer behind its header, so the whole reply is one write. On a read
    /// error nothing has been sent yet, so the caller can still answer with an error.
    /// </summary>
    private async ValueTask DataChunkAsync(ulong cookie, ulong offset, uint length, bool done, CancellationToken ct)
    {
        int prefix = _structured ? NbdWireSize.StructuredReplyHeader + 8 : NbdWireSize.SimpleReplyHeader;
        int total = prefix + (int)length;
        var buffer = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            await _export.ReadAsync((long)offset, buffer.AsMemory(prefix, (int)length), ct).ConfigureAwait(false);
            if (_structured)
            {
                ReplyWriter.ChunkHeader(buffer, done ? ReplyChunkFlags.Done : ReplyChunkFlags.None, ReplyChunkType.OffsetData, cookie, 8 + (int)length);
                BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(NbdWireSize.StructuredReplyHeader), offset);
            }
            else
            {
                ReplyWriter.SimpleHeader(buffer, NbdError.None, cookie);
            }
            await SendAsync(() => _replies.WriteAsync(buffer.AsMemory(0, total), ct)).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
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
        await SendAsync(() => _replies.WriteAsync(buffer.AsMemory(0, total), ct)).ConfigureAwait(false);
    }
}
