using System.Buffers.Binary;
using System.Text;

namespace DmEra.Nbd.Tests.Support;

/// <summary>A byte-level NBD client for tests: sends exactly what a test says, including what no library would send.</summary>
internal sealed class RawNbdClient : IAsyncDisposable
{
    public const ulong OptMagic = 0x49484156454F5054UL;
    public const ulong OptReplyMagic = 0x3e889045565a9UL;
    public const uint RequestMagic = 0x25609513;
    public const uint SimpleMagic = 0x67446698;
    public const uint StructuredMagic = 0x668e33ef;

    private readonly Stream _stream;
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);

    public RawNbdClient(Stream stream) => _stream = stream;

    public Stream Stream => _stream;

    public async Task<byte[]> ReadBytesAsync(int count)
    {
        var buffer = new byte[count];
        using var cts = new CancellationTokenSource(ReadTimeout);
        await _stream.ReadExactlyAsync(buffer, cts.Token);
        return buffer;
    }

    /// <summary>True if the server closed the connection (EOF) within the timeout.</summary>
    public async Task<bool> IsClosedAsync()
    {
        using var cts = new CancellationTokenSource(ReadTimeout);
        try
        {
            var one = new byte[1];
            int n = await _stream.ReadAsync(one, cts.Token);
            return n == 0;
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public async Task WriteAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Reads the 18-byte greeting and returns its handshake flags.</summary>
    public async Task<ushort> ReadGreetingAsync()
    {
        var g = await ReadBytesAsync(18);
        if (BinaryPrimitives.ReadUInt64BigEndian(g) != 0x4e42444d41474943UL) throw new InvalidDataException("bad NBDMAGIC");
        if (BinaryPrimitives.ReadUInt64BigEndian(g.AsSpan(8)) != OptMagic) throw new InvalidDataException("bad IHAVEOPT");
        return BinaryPrimitives.ReadUInt16BigEndian(g.AsSpan(16));
    }

    public Task SendClientFlagsAsync(uint flags)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, flags);
        return WriteAsync(b);
    }

    /// <summary>Greeting plus client flags FIXED_NEWSTYLE | NO_ZEROES.</summary>
    public async Task StartAsync()
    {
        await ReadGreetingAsync();
        await SendClientFlagsAsync(3);
    }

    public static byte[] Option(uint option, byte[] data, uint? declaredLength = null)
    {
        var b = new byte[16 + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(b, OptMagic);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), declaredLength ?? (uint)data.Length);
        data.CopyTo(b, 16);
        return b;
    }

    public Task SendOptionAsync(uint option, byte[]? data = null, uint? declaredLength = null) =>
        WriteAsync(Option(option, data ?? [], declaredLength));

    public readonly record struct OptionReply(uint Option, uint Type, byte[] Data);

    public async Task<OptionReply> ReadOptionReplyAsync()
    {
        var h = await ReadBytesAsync(20);
        if (BinaryPrimitives.ReadUInt64BigEndian(h) != OptReplyMagic) throw new InvalidDataException("bad option reply magic");
        uint len = BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(16));
        if (len > 1 << 20) throw new InvalidDataException($"option reply of {len} bytes");
        return new OptionReply(BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(8)), BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(12)), await ReadBytesAsync((int)len));
    }

    /// <summary>Reads replies up to and including the first that is not INFO/SERVER/META_CONTEXT.</summary>
    public async Task<List<OptionReply>> ReadOptionRepliesAsync()
    {
        var list = new List<OptionReply>();
        while (true)
        {
            var r = await ReadOptionReplyAsync();
            list.Add(r);
            if (r.Type is not (2 or 3 or 4)) return list;
        }
    }

    public static byte[] Str32(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        var b = new byte[4 + bytes.Length];
        BinaryPrimitives.WriteUInt32BigEndian(b, (uint)bytes.Length);
        bytes.CopyTo(b, 4);
        return b;
    }

    public static byte[] InfoData(string name, params ushort[] infos)
    {
        var n = Str32(name);
        var b = new byte[n.Length + 2 + 2 * infos.Length];
        n.CopyTo(b, 0);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(n.Length), (ushort)infos.Length);
        for (int i = 0; i < infos.Length; i++) BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(n.Length + 2 + 2 * i), infos[i]);
        return b;
    }

    public static byte[] MetaData(string export, params string[] queries)
    {
        var parts = new List<byte>(Str32(export));
        var count = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(count, (uint)queries.Length);
        parts.AddRange(count);
        foreach (var q in queries) parts.AddRange(Str32(q));
        return parts.ToArray();
    }

    /// <summary>Negotiates SR (optional), contexts (optional) and GO; returns the export size and transmission flags.</summary>
    public async Task<(ulong Size, ushort Flags, Dictionary<string, uint> Contexts)> GoAsync(string export = "", bool structured = true, params string[] contexts)
    {
        await StartAsync();
        var ids = new Dictionary<string, uint>();
        if (structured)
        {
            await SendOptionAsync(8);
            var ack = await ReadOptionReplyAsync();
            if (ack.Type != 1) throw new InvalidDataException("SR refused");
        }
        if (contexts.Length > 0)
        {
            await SendOptionAsync(10, MetaData(export, contexts));
            foreach (var r in await ReadOptionRepliesAsync())
                if (r.Type == 4) ids[Encoding.UTF8.GetString(r.Data, 4, r.Data.Length - 4)] = BinaryPrimitives.ReadUInt32BigEndian(r.Data);
        }
        await SendOptionAsync(7, InfoData(export));
        ulong size = 0; ushort flags = 0;
        foreach (var r in await ReadOptionRepliesAsync())
        {
            if (r.Type == 3 && BinaryPrimitives.ReadUInt16BigEndian(r.Data) == 0)
            {
                size = BinaryPrimitives.ReadUInt64BigEndian(r.Data.AsSpan(2));
                flags = BinaryPrimitives.ReadUInt16BigEndian(r.Data.AsSpan(10));
            }
            else if (r.Type != 3 && r.Type != 1) throw new InvalidDataException($"GO failed with reply type 0x{r.Type:x}");
        }
        return (size, flags, ids);
    }

    public static byte[] Request(ushort type, ulong cookie, ulong offset, uint length, ushort flags = 0, byte[]? payload = null, uint magic = RequestMagic)
    {
        var b = new byte[28 + (payload?.Length ?? 0)];
        BinaryPrimitives.WriteUInt32BigEndian(b, magic);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), type);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8), cookie);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(16), offset);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(24), length);
        payload?.CopyTo(b, 28);
        return b;
    }

    public Task SendRequestAsync(ushort type, ulong cookie, ulong offset, uint length, ushort flags = 0, byte[]? payload = null) =>
        WriteAsync(Request(type, cookie, offset, length, flags, payload));

    /// <summary>A reply as the test sees it: simple replies have one pseudo-chunk; structured ones are collected until DONE.</summary>
    public sealed record Reply(ulong Cookie, uint Error, bool Structured, List<Chunk> Chunks);

    public sealed record Chunk(ushort Flags, ushort Type, byte[] Payload);

    /// <summary>Reads one message (simple reply or one structured chunk). For simple READ replies, pass the expected data length.</summary>
    public async Task<(ulong Cookie, uint Error, Chunk? Chunk, byte[] SimpleData)> ReadMessageAsync(int simpleDataLength = 0)
    {
        var magicBytes = await ReadBytesAsync(4);
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(magicBytes);
        if (magic == SimpleMagic)
        {
            var rest = await ReadBytesAsync(12);
            uint error = BinaryPrimitives.ReadUInt32BigEndian(rest);
            ulong cookie = BinaryPrimitives.ReadUInt64BigEndian(rest.AsSpan(4));
            var data = error == 0 && simpleDataLength > 0 ? await ReadBytesAsync(simpleDataLength) : [];
            return (cookie, error, null, data);
        }
        if (magic == StructuredMagic)
        {
            var rest = await ReadBytesAsync(16);
            ushort flags = BinaryPrimitives.ReadUInt16BigEndian(rest);
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(rest.AsSpan(2));
            ulong cookie = BinaryPrimitives.ReadUInt64BigEndian(rest.AsSpan(4));
            uint len = BinaryPrimitives.ReadUInt32BigEndian(rest.AsSpan(12));
            var payload = await ReadBytesAsync((int)len);
            uint error = (type & 0x8000) != 0 ? BinaryPrimitives.ReadUInt32BigEndian(payload) : 0;
            return (cookie, error, new Chunk(flags, type, payload), []);
        }
        throw new InvalidDataException($"bad reply magic 0x{magic:x8}");
    }

    /// <summary>Reads a complete reply to one request, assuming no other request is outstanding.</summary>
    public async Task<Reply> ReadReplyAsync(int simpleDataLength = 0)
    {
        var first = await ReadMessageAsync(simpleDataLength);
        if (first.Chunk is null)
            return new Reply(first.Cookie, first.Error, false, [new Chunk(1, 0xffff, first.SimpleData)]);
        var chunks = new List<Chunk> { first.Chunk };
        uint error = first.Error;
        while ((chunks[^1].Flags & 1) == 0)
        {
            var next = await ReadMessageAsync();
            if (next.Cookie != first.Cookie) throw new InvalidDataException("interleaved reply in a single-request test");
            chunks.Add(next.Chunk!);
            if (next.Error != 0) error = next.Error;
        }
        return new Reply(first.Cookie, error, true, chunks);
    }

    /// <summary>Assembles a structured READ reply into the bytes it describes.</summary>
    public static byte[] AssembleRead(Reply reply, ulong offset, int length)
    {
        if (!reply.Structured) return reply.Chunks[0].Payload;
        var data = new byte[length];
        foreach (var c in reply.Chunks)
        {
            if (c.Type == 1)
            {
                ulong at = BinaryPrimitives.ReadUInt64BigEndian(c.Payload);
                c.Payload.AsSpan(8).CopyTo(data.AsSpan((int)(at - offset)));
            }
        }
        return data;
    }

    public ValueTask DisposeAsync() => _stream.DisposeAsync();
}
