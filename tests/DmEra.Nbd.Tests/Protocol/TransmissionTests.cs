#nullable enable
using System.Buffers.Binary;
using DmEra.Nbd.Exports;
using DmEra.Nbd.Tests.Support;
using Xunit;

namespace DmEra.Nbd.Tests.Protocol;

public sealed class TransmissionTests
{
    private const ushort Read = 0, Write = 1, Disc = 2, Flush = 3, Trim = 4, Cache = 5, Zero = 6, BlockStatus = 7;
    private const uint EPERM = 1, EINVAL = 22, ENOSPC = 28;

    private static byte[] Pattern(int length, byte seed)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++) b[i] = (byte)(seed + i * 7);
        return b;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Written_data_reads_back_with_simple_and_structured_replies(bool structured)
    {
        await using var h = SessionHarness.WithMemory(1 << 20, out _);
        await h.Client.GoAsync("mem", structured);
        var data = Pattern(3000, 5);
        await h.Client.SendRequestAsync(Write, 1, 12345, (uint)data.Length, payload: data);
        Assert.Equal(0u, (await h.Client.ReadReplyAsync()).Error);
        await h.Client.SendRequestAsync(Read, 2, 12345, (uint)data.Length);
        var r = await h.Client.ReadReplyAsync(data.Length);
        Assert.Equal((2UL, 0u, structured), (r.Cookie, r.Error, r.Structured));
        Assert.Equal(data, RawNbdClient.AssembleRead(r, 12345, data.Length));
    }

    [Theory]
    [InlineData(Read, 1UL << 20, 1u, EINVAL)]
    [InlineData(Read, (1UL << 20) - 10, 11u, EINVAL)]
    [InlineData(Write, (1UL << 20) - 10, 11u, ENOSPC)]
    [InlineData(Zero, 1UL << 20, 4096u, ENOSPC)]
    [InlineData(Trim, ulong.MaxValue, 1u, EINVAL)]
    [InlineData(Cache, ulong.MaxValue - 1, 4u, EINVAL)]
    [InlineData(BlockStatus, 1UL << 21, 1u, EINVAL)]
    [InlineData(Read, 0UL, 33u << 20, EINVAL)]
    public async Task Out_of_range_requests_get_error_replies_and_the_connection_stays_up(ushort command, ulong offset, uint length, uint expected)
    {
        await using var h = SessionHarness.WithMemory(1 << 20, out _);
        await h.Client.GoAsync("mem", true, "base:allocation");
        byte[]? payload = command == Write ? new byte[length] : null;
        await h.Client.SendRequestAsync(command, 9, offset, length, payload: payload);
        var r = await h.Client.ReadReplyAsync();
        Assert.Equal(expected, r.Error);
        await h.Client.SendRequestAsync(Read, 10, 0, 16);
        Assert.Equal(0u, (await h.Client.ReadReplyAsync()).Error);
    }

    [Fact]
    public async Task Unknown_commands_and_flags_are_invalid_but_not_fatal()
    {
        await using var h = SessionHarness.WithMemory(1 << 20, out _);
        await h.Client.GoAsync("mem", structured: false);
        await h.Client.SendRequestAsync(99, 1, 0, 0);
        Assert.Equal(EINVAL, (await h.Client.ReadReplyAsync()).Error);
        await h.Client.SendRequestAsync(Read, 2, 0, 512, flags: 0x80);
        Assert.Equal(EINVAL, (await h.Client.ReadReplyAsync()).Error);
        // DF without structured replies is not valid; FUA on a read is accepted.
        await h.Client.SendRequestAsync(Read, 3, 0, 512, flags: 4);
        Assert.Equal(EINVAL, (await h.Client.ReadReplyAsync()).Error);
        await h.Client.SendRequestAsync(Read, 4, 0, 512, flags: 1);
        Assert.Equal(0u, (await h.Client.ReadReplyAsync(512)).Error);
        await h.Client.SendRequestAsync(Flush, 5, 1, 0);
        Assert.Equal(EINVAL, (await h.Client.ReadReplyAsync()).Error);
        await h.Client.SendRequestAsync(Flush, 6, 0, 0);
        Assert.Equal(0u, (await h.Client.ReadReplyAsync()).Error);
    }

    [Fact]
    public async Task Zero_length_requests_succeed_as_no_ops_except_block_status()
    {
        await using var h = SessionHarness.WithMemory(1 << 20, out var export);
        await h.Client.GoAsync("mem", true, "base:allocation");
        foreach (var command in new[] { Read, Write, Trim, Zero, Cache })
        {
            await h.Client.SendRequestAsync(command, command, 4096, 0);
            Assert.Equal(0u, (await h.Client.ReadReplyAsync()).Error);
        }
        await h.Client.SendRequestAsync(BlockStatus, 50, 0, 0);
        Assert.Equal(EINVAL, (await h.Client.ReadReplyAsync()).Error);
        Assert.Equal(0, export.AllocatedBytes);
    }

    [Fact]
    public async Task Changes_to_a_read_only_export_fail_with_eperm()
    {
        await using var h = SessionHarness.WithMemory(1 << 20, out _, readOnly: true);
        var (_, flags, _) = await h.Client.GoAsync("mem");
        Assert.Equal(2, flags & 2);
        Assert.Equal(0, flags & (1 << 5 | 1 << 6));
        await h.Client.SendRequestAsync(Write, 1, 0, 4, payload: [1, 2, 3, 4]);
        Assert.Equal(EPERM, (await h.Client.ReadReplyAsync()).Error);
        await h.Client.SendRequestAsync(Trim, 2, 0, 4096);
        Assert.Equal(EPERM, (await h.Client.ReadReplyAsync()).Error);
        await h.Client.SendRequestAsync(Read, 3, 0, 4);
        Assert.Equal(0u, (await h.Client.ReadReplyAsync()).Error);
    }

    [Fact]
    public async Task Errors_after_structured_replies_come_as_error_chunks_with_a_message()
    {
        await using var h = SessionHarness.WithMemory(4096, out _);
        await h.Client.GoAsync("mem");
        await h.Client.SendRequestAsync(Read, 1, 4096, 1);
        var r = await h.Client.ReadReplyAsync();
        var chunk = Assert.Single(r.Chunks);
        Assert.Equal((ushort)0x8001, chunk.Type);
        Assert.Equal(1, chunk.Flags & 1);
        ushort messageLength = BinaryPrimitives.ReadUInt16BigEndian(chunk.Payload.AsSpan(4));
        Assert.Equal(chunk.Payload.Length - 6, messageLength);
        Assert.Contains("past the end", System.Text.Encoding.UTF8.GetString(chunk.Payload, 6, messageLength));
    }

    [Fact]
    public async Task An_oversize_write_is_skipped_and_answered_with_einval()
    {
        await using var h = SessionHarness.WithMemory(64 << 20, out var export, new NbdServerLimits { MaxPayloadBytes = 1 << 20, MaxSkippedWriteBytes = 4 << 20 });
        await h.Client.GoAsync("mem", structured: false);
        await h.Client.SendRequestAsync(Write, 1, 0, 2 << 20, payload: Pattern(2 << 20, 1));
        Assert.Equal(EINVAL, (await h.Client.ReadReplyAsync()).Error);
        await h.Client.SendRequestAsync(Write, 2, 0, 4, payload: [9, 9, 9, 9]);
        Assert.Equal(0u, (await h.Client.ReadReplyAsync()).Error);
        Assert.Equal(64 * 1024, export.AllocatedBytes);
    }

    [Fact]
    public async Task A_write_too_large_to_skip_closes_the_connection_without_writing()
    {
        await using var h = SessionHarness.WithMemory(64 << 20, out var export, new NbdServerLimits { MaxPayloadBytes = 1 << 20, MaxSkippedWriteBytes = 1 << 20 });
        await h.Client.GoAsync("mem", structured: false);
        await h.Client.SendRequestAsync(Write, 1, 0, 0xffffffff);
        Assert.True(await h.Client.IsClosedAsync());
        Assert.Equal(0, export.AllocatedBytes);
    }

    [Fact]
    public async Task Bad_request_magic_closes_the_connection()
    {
        await using var h = SessionHarness.WithMemory(4096, out _);
        await h.Client.GoAsync("mem");
        await h.Client.WriteAsync(RawNbdClient.Request(Read, 1, 0, 512, magic: 0x12345678));
        Assert.True(await h.Client.IsClosedAsync());
    }

    [Fact]
    public async Task A_disconnect_in_the_middle_of_a_write_payload_writes_nothing()
    {
        var h = SessionHarness.WithMemory(1 << 20, out var export);
        await h.Client.GoAsync("mem");
        var full = RawNbdClient.Request(Write, 1, 0, 8192, payload: Pattern(8192, 3));
        await h.Client.WriteAsync(full[..(28 + 5000)]);
        await h.DisposeAsync();
        Assert.Equal(0, export.AllocatedBytes);
    }

    [Fact]
    public async Task Disc_waits_for_requests_in_flight_then_closes_without_a_reply()
    {
        var memory = new MemoryExport(1 << 20);
        var gated = new GatedExport(memory, offset => offset == 0);
        await using var h = new SessionHarness(new NbdExportCatalog().Add("g", gated));
        await h.Client.GoAsync("g", structured: false);
        await h.Client.SendRequestAsync(Write, 1, 0, 4, payload: [1, 2, 3, 4]);
        await h.Client.SendRequestAsync(Disc, 2, 0, 0);
        await WaitUntil(() => gated.Waiting == 1);
        Assert.False(h.Session.IsCompleted);
        gated.Open();
        var r = await h.Client.ReadReplyAsync();
        Assert.Equal((1UL, 0u), (r.Cookie, r.Error));
        Assert.True(await h.Client.IsClosedAsync());
        var back = new byte[4];
        await memory.ReadAsync(0, back, default);
        Assert.Equal([1, 2, 3, 4], back);
    }

    [Fact]
    public async Task Replies_come_back_out_of_order_when_an_earlier_request_is_slow()
    {
        var gated = new GatedExport(new MemoryExport(1 << 20), offset => offset == 0);
        await using var h = new SessionHarness(new NbdExportCatalog().Add("g", gated));
        await h.Client.GoAsync("g", structured: false);
        await h.Client.SendRequestAsync(Read, 100, 0, 512);
        for (ulong i = 1; i <= 5; i++) await h.Client.SendRequestAsync(Read, 100 + i, i * 4096, 512);
        var early = new List<ulong>();
        for (int i = 0; i < 5; i++) early.Add((await h.Client.ReadMessageAsync(512)).Cookie);
        Assert.Equal(new ulong[] { 101, 102, 103, 104, 105 }, early.Order().ToArray());
        gated.Open();
        Assert.Equal(100UL, (await h.Client.ReadMessageAsync(512)).Cookie);
    }

    [Fact]
    public async Task The_server_stops_reading_at_the_in_flight_limit()
    {
        var gated = new GatedExport(new MemoryExport(1 << 20), _ => true);
        await using var h = new SessionHarness(new NbdExportCatalog().Add("g", gated), new NbdServerLimits { MaxInFlightRequests = 4 });
        await h.Client.GoAsync("g", structured: false);
        for (ulong i = 0; i < 10; i++) await h.Client.SendRequestAsync(Read, i, i * 512, 512);
        await WaitUntil(() => gated.Waiting == 4);
        await Task.Delay(200);
        Assert.Equal(4, gated.MaxWaiting);
        gated.Open();
        var cookies = new HashSet<ulong>();
        for (int i = 0; i < 10; i++) cookies.Add((await h.Client.ReadMessageAsync(512)).Cookie);
        Assert.Equal(10, cookies.Count);
        Assert.Equal(4, gated.MaxWaiting);
    }

    [Fact]
    public async Task The_server_stops_reading_at_the_buffered_bytes_limit()
    {
        var gated = new GatedExport(new MemoryExport(1 << 20), _ => true);
        await using var h = new SessionHarness(new NbdExportCatalog().Add("g", gated),
            new NbdServerLimits { MaxBufferedBytesPerConnection = 64 * 1024, MaxInFlightRequests = 64 });
        await h.Client.GoAsync("g");
        // The client blocks too once the server stops reading, so it sends from its own task.
        var sending = Task.Run(async () =>
        {
            for (ulong i = 0; i < 8; i++) await h.Client.SendRequestAsync(Write, i, i * 32768, 32768, payload: Pattern(32768, (byte)i));
        });
        await WaitUntil(() => gated.Waiting == 2);
        await Task.Delay(300);
        Assert.Equal(2, gated.MaxWaiting);
        gated.Open();
        await sending.WaitAsync(TimeSpan.FromSeconds(10));
        for (int i = 0; i < 8; i++)
        {
            var m = await h.Client.ReadMessageAsync();
            Assert.True(m.Error == 0, m.Chunk is null ? "error" : System.Text.Encoding.UTF8.GetString(m.Chunk.Payload, 6, m.Chunk.Payload.Length - 6));
        }
    }

    [Fact]
    public async Task Trim_and_write_zeroes_read_back_as_zero_and_punch_holes_unless_no_hole()
    {
        await using var h = SessionHarness.WithMemory(1 << 20, out var export);
        await h.Client.GoAsync("mem");
        var data = Pattern(256 * 1024, 1);
        await h.Client.SendRequestAsync(Write, 1, 0, (uint)data.Length, payload: data);
        await h.Client.ReadReplyAsync();
        await h.Client.SendRequestAsync(Zero, 2, 0, 65536);
        Assert.Equal(0u, (await h.Client.ReadReplyAsync()).Error);
        Assert.Equal(3 * 65536, export.AllocatedBytes);
        await h.Client.SendRequestAsync(Zero, 3, 65536, 65536, flags: 2);
        Assert.Equal(0u, (await h.Client.ReadReplyAsync()).Error);
        Assert.Equal(3 * 65536, export.AllocatedBytes);
        await h.Client.SendRequestAsync(Trim, 4, 131072, 65536);
        Assert.Equal(0u, (await h.Client.ReadReplyAsync()).Error);
        await h.Client.SendRequestAsync(Read, 5, 0, 196608);
        var back = RawNbdClient.AssembleRead(await h.Client.ReadReplyAsync(), 0, 196608);
        Assert.All(back, b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Large_reads_of_holes_are_sent_as_offset_hole_chunks()
    {
        await using var h = SessionHarness.WithMemory(4 << 20, out var export);
        export.Load(65536, Pattern(65536, 2));
        await h.Client.GoAsync("mem");
        await h.Client.SendRequestAsync(Read, 1, 0, 1 << 20);
        var r = await h.Client.ReadReplyAsync();
        Assert.Equal(0u, r.Error);
        Assert.Contains(r.Chunks, c => c.Type == 2);
        Assert.Equal(1, r.Chunks[^1].Flags & 1);
        Assert.All(r.Chunks.SkipLast(1), c => Assert.Equal(0, c.Flags & 1));
        var expected = new byte[1 << 20];
        Pattern(65536, 2).CopyTo(expected, 65536);
        Assert.Equal(expected, RawNbdClient.AssembleRead(r, 0, 1 << 20));
    }

    [Fact]
    public async Task Block_status_reports_holes_and_data_and_req_one_returns_one_extent()
    {
        await using var h = SessionHarness.WithMemory(1 << 20, out var export);
        export.Load(131072, Pattern(100, 2));
        var (_, _, ids) = await h.Client.GoAsync("mem", true, "base:allocation");
        await h.Client.SendRequestAsync(BlockStatus, 1, 0, 1 << 20);
        var chunk = Assert.Single((await h.Client.ReadReplyAsync()).Chunks);
        Assert.Equal((ushort)5, chunk.Type);
        Assert.Equal(ids["base:allocation"], BinaryPrimitives.ReadUInt32BigEndian(chunk.Payload));
        var extents = Extents(chunk.Payload);
        Assert.Equal([(131072u, 3u), (65536u, 0u), (1048576u - 196608u, 3u)], extents);

        await h.Client.SendRequestAsync(BlockStatus, 2, 4096, 200000, flags: 8);
        var one = Extents(Assert.Single((await h.Client.ReadReplyAsync()).Chunks).Payload);
        Assert.Equal([(131072u - 4096u, 3u)], one);
    }

    [Fact]
    public async Task Block_status_without_a_selected_context_is_invalid()
    {
        await using var h = SessionHarness.WithMemory(1 << 20, out _);
        await h.Client.GoAsync("mem");
        await h.Client.SendRequestAsync(BlockStatus, 1, 0, 4096);
        Assert.Equal(EINVAL, (await h.Client.ReadReplyAsync()).Error);
    }

    [Fact]
    public async Task Era_contexts_of_an_export_answer_block_status_through_the_same_interface()
    {
        var export = new SyntheticEraExport(1 << 20, 65536, block => (uint)block);
        await using var h = new SessionHarness(new NbdExportCatalog().Add("era", export));
        var (_, _, ids) = await h.Client.GoAsync("era", true, "x-dm-era:written-since:10", "x-dm-era:era");
        Assert.Equal(2, ids.Count);
        await h.Client.SendRequestAsync(BlockStatus, 1, 0, 1 << 20);
        var r = await h.Client.ReadReplyAsync();
        Assert.Equal(2, r.Chunks.Count);
        var byId = r.Chunks.ToDictionary(c => BinaryPrimitives.ReadUInt32BigEndian(c.Payload), c => Extents(c.Payload));
        Assert.Equal([(10u * 65536, 0u), (6u * 65536, 1u)], byId[ids["x-dm-era:written-since:10"]]);
        Assert.Equal(16, byId[ids["x-dm-era:era"]].Count);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => (65536u, (uint)i)), byId[ids["x-dm-era:era"]]);
    }

    internal static List<(uint Length, uint Flags)> Extents(byte[] payload)
    {
        var list = new List<(uint, uint)>();
        for (int p = 4; p < payload.Length; p += 8)
            list.Add((BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(p)), BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(p + 4))));
        return list;
    }

    internal static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached within 10 s");
            await Task.Delay(10);
        }
    }
}
