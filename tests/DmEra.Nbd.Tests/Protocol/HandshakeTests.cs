using System.Buffers.Binary;
using System.Text;
using DmEra.Nbd.Exports;
using DmEra.Nbd.Tests.Support;
using Xunit;

namespace DmEra.Nbd.Tests.Protocol;

public sealed class HandshakeTests
{
    private const uint Ack = 1, Server = 2, Info = 3, MetaContext = 4;
    private const uint ErrUnsup = 0x80000001, ErrPolicy = 0x80000002, ErrInvalid = 0x80000003, ErrTlsReqd = 0x80000005, ErrUnknown = 0x80000006, ErrTooBig = 0x80000009;

    private static SessionHarness Harness(NbdServerLimits? limits = null) =>
        new(new NbdExportCatalog().Add("disk", new MemoryExport(1 << 20, description: "a test disk")).Add("other", new MemoryExport(4096)), limits);

    [Fact]
    public async Task Greeting_offers_fixed_newstyle_and_no_zeroes()
    {
        await using var h = Harness();
        Assert.Equal(3, await h.Client.ReadGreetingAsync());
    }

    [Fact]
    public async Task Unknown_client_flags_close_the_connection()
    {
        await using var h = Harness();
        await h.Client.ReadGreetingAsync();
        await h.Client.SendClientFlagsAsync(0x7);
        Assert.True(await h.Client.IsClosedAsync());
        await h.EndedAsync();
    }

    [Fact]
    public async Task Closing_right_after_connecting_ends_the_session_quietly()
    {
        var h = Harness();
        await h.Client.DisposeAsync();
        await h.EndedAsync();
    }

    [Fact]
    public async Task An_unknown_option_gets_err_unsup_and_negotiation_goes_on()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(0x7777, [1, 2, 3]);
        var r = await h.Client.ReadOptionReplyAsync();
        Assert.Equal((0x7777u, ErrUnsup), (r.Option, r.Type));
        Assert.Contains("not supported", Encoding.UTF8.GetString(r.Data));
        await h.Client.SendOptionAsync(8);
        Assert.Equal(Ack, (await h.Client.ReadOptionReplyAsync()).Type);
    }

    [Fact]
    public async Task List_names_every_export_then_acks()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(3);
        var replies = await h.Client.ReadOptionRepliesAsync();
        Assert.Equal([Server, Server, Ack], replies.Select(r => r.Type));
        // u32 name length, name, then the description (pitfall 3: the inner length must be exact).
        var entries = replies.Take(2).Select(r =>
        {
            int nameLength = (int)BinaryPrimitives.ReadUInt32BigEndian(r.Data);
            return (Encoding.UTF8.GetString(r.Data, 4, nameLength), Encoding.UTF8.GetString(r.Data, 4 + nameLength, r.Data.Length - 4 - nameLength));
        });
        Assert.Equal([("disk", "a test disk"), ("other", "")], entries);
    }

    [Fact]
    public async Task List_with_data_is_invalid()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(3, [0]);
        Assert.Equal(ErrInvalid, (await h.Client.ReadOptionReplyAsync()).Type);
    }

    [Fact]
    public async Task Info_describes_the_export_and_ignores_unknown_info_requests()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(6, RawNbdClient.InfoData("disk", 0x7777, 1, 2, 3));
        var replies = await h.Client.ReadOptionRepliesAsync();
        Assert.Equal(Ack, replies[^1].Type);
        Assert.Empty(replies[^1].Data);
        var infos = replies.SkipLast(1).ToDictionary(r => BinaryPrimitives.ReadUInt16BigEndian(r.Data), r => r.Data);
        Assert.Equal(12, infos[0].Length);
        Assert.Equal(1UL << 20, BinaryPrimitives.ReadUInt64BigEndian(infos[0].AsSpan(2)));
        Assert.Equal("disk", Encoding.UTF8.GetString(infos[1], 2, infos[1].Length - 2));
        Assert.Equal("a test disk", Encoding.UTF8.GetString(infos[2], 2, infos[2].Length - 2));
        Assert.Equal(14, infos[3].Length);
        Assert.Equal((1u, 4096u, 32u << 20), (BinaryPrimitives.ReadUInt32BigEndian(infos[3].AsSpan(2)),
            BinaryPrimitives.ReadUInt32BigEndian(infos[3].AsSpan(6)), BinaryPrimitives.ReadUInt32BigEndian(infos[3].AsSpan(10))));
    }

    [Fact]
    public async Task Info_for_an_unknown_export_is_err_unknown()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(6, RawNbdClient.InfoData("nope"));
        Assert.Equal(ErrUnknown, (await h.Client.ReadOptionReplyAsync()).Type);
        await h.Client.SendOptionAsync(7, RawNbdClient.InfoData("nope"));
        Assert.Equal(ErrUnknown, (await h.Client.ReadOptionReplyAsync()).Type);
    }

    [Theory]
    [InlineData(0xffffffffu)]
    [InlineData(5u)]
    [InlineData(4097u)]
    public async Task Go_with_a_name_length_inconsistent_with_the_option_is_invalid(uint nameLength)
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        var data = RawNbdClient.InfoData("disk");
        BinaryPrimitives.WriteUInt32BigEndian(data, nameLength);
        await h.Client.SendOptionAsync(7, data);
        Assert.Equal(ErrInvalid, (await h.Client.ReadOptionReplyAsync()).Type);
    }

    [Fact]
    public async Task A_name_of_4097_bytes_is_refused_and_4096_is_looked_up()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(6, RawNbdClient.InfoData(new string('a', 4097)));
        Assert.Equal(ErrInvalid, (await h.Client.ReadOptionReplyAsync()).Type);
        await h.Client.SendOptionAsync(6, RawNbdClient.InfoData(new string('a', 4096)));
        Assert.Equal(ErrUnknown, (await h.Client.ReadOptionReplyAsync()).Type);
    }

    [Fact]
    public async Task An_oversized_option_gets_err_too_big_and_the_connection_closes_without_draining()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(7, [], declaredLength: 0xfffffff0);
        Assert.Equal(ErrTooBig, (await h.Client.ReadOptionReplyAsync()).Type);
        Assert.True(await h.Client.IsClosedAsync());
    }

    [Fact]
    public async Task Bad_option_magic_closes_the_connection()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        var opt = RawNbdClient.Option(8, []);
        opt[0] ^= 0xff;
        await h.Client.WriteAsync(opt);
        Assert.True(await h.Client.IsClosedAsync());
    }

    [Fact]
    public async Task Too_many_options_close_the_connection()
    {
        await using var h = Harness(new NbdServerLimits { MaxOptionsPerHandshake = 5 });
        await h.Client.StartAsync();
        for (int i = 0; i < 5; i++)
        {
            await h.Client.SendOptionAsync(8);
            Assert.Equal(Ack, (await h.Client.ReadOptionReplyAsync()).Type);
        }
        await h.Client.SendOptionAsync(8);
        Assert.True(await h.Client.IsClosedAsync());
    }

    [Fact]
    public async Task A_client_that_never_finishes_the_handshake_is_dropped_at_the_deadline()
    {
        await using var h = Harness(new NbdServerLimits { HandshakeTimeout = TimeSpan.FromMilliseconds(300) });
        await h.Client.StartAsync();
        await h.EndedAsync();
        Assert.True(await h.Client.IsClosedAsync());
    }

    [Fact]
    public async Task Export_name_with_no_zeroes_sends_size_and_flags_only()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(1, Encoding.UTF8.GetBytes("disk"));
        var reply = await h.Client.ReadBytesAsync(10);
        Assert.Equal(1UL << 20, BinaryPrimitives.ReadUInt64BigEndian(reply));
        // Transmission has begun: a read works right after the 10 bytes.
        await h.Client.SendRequestAsync(0, 7, 0, 512);
        var r = await h.Client.ReadReplyAsync(512);
        Assert.Equal((7UL, 0u), (r.Cookie, r.Error));
    }

    [Fact]
    public async Task Export_name_without_no_zeroes_pads_124_zero_bytes()
    {
        await using var h = Harness();
        await h.Client.ReadGreetingAsync();
        await h.Client.SendClientFlagsAsync(1);
        await h.Client.SendOptionAsync(1, Encoding.UTF8.GetBytes(""));
        var reply = await h.Client.ReadBytesAsync(134);
        Assert.Equal(1UL << 20, BinaryPrimitives.ReadUInt64BigEndian(reply));
        Assert.All(reply.Skip(10), b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Export_name_for_an_unknown_export_closes_the_connection()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(1, Encoding.UTF8.GetBytes("nope"));
        Assert.True(await h.Client.IsClosedAsync());
    }

    [Fact]
    public async Task Abort_is_acknowledged_and_ends_the_session()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(2);
        Assert.Equal(Ack, (await h.Client.ReadOptionReplyAsync()).Type);
        await h.EndedAsync();
    }

    [Fact]
    public async Task Set_meta_context_before_structured_replies_is_invalid()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(10, RawNbdClient.MetaData("disk", "base:allocation"));
        Assert.Equal(ErrInvalid, (await h.Client.ReadOptionReplyAsync()).Type);
    }

    [Fact]
    public async Task List_meta_context_lists_matching_contexts_only()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(9, RawNbdClient.MetaData("disk", "base:", "qemu:", "nope:x"));
        var replies = await h.Client.ReadOptionRepliesAsync();
        Assert.Equal([MetaContext, Ack], replies.Select(r => r.Type));
        Assert.Equal("base:allocation", Encoding.UTF8.GetString(replies[0].Data, 4, replies[0].Data.Length - 4));
    }

    [Fact]
    public async Task Set_meta_context_selects_known_contexts_and_ignores_unknown_ones()
    {
        await using var h = Harness();
        var (_, _, ids) = await h.Client.GoAsync("disk", true, "qemu:dirty-bitmap:x", "base:allocation", "base:nothing");
        Assert.Equal(["base:allocation"], ids.Keys);
        Assert.NotEqual(0u, ids["base:allocation"]);
    }

    [Fact]
    public async Task Meta_context_with_a_query_count_larger_than_the_data_is_invalid()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        var data = RawNbdClient.MetaData("disk", "base:allocation");
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8), 0x40000000);
        await h.Client.SendOptionAsync(9, data);
        Assert.Equal(ErrInvalid, (await h.Client.ReadOptionReplyAsync()).Type);
    }

    [Fact]
    public async Task Starttls_without_tls_configured_is_refused_by_policy()
    {
        await using var h = Harness();
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(5);
        Assert.Equal(ErrPolicy, (await h.Client.ReadOptionReplyAsync()).Type);
    }

    [Fact]
    public async Task Go_flags_advertise_what_a_writable_memory_export_supports()
    {
        await using var h = Harness();
        var (size, flags, _) = await h.Client.GoAsync("disk");
        Assert.Equal(1UL << 20, size);
        // HAS_FLAGS, FLUSH, FUA, TRIM, WRITE_ZEROES, DF, MULTI_CONN, CACHE, FAST_ZERO (same as nbdkit memory: 0x0ded).
        Assert.Equal(0x0ded, flags);
    }

    [Fact]
    public async Task Tls_required_mode_refuses_options_before_starttls()
    {
        using var cert = TestCertificates.CreateSelfSigned();
        await using var h = new SessionHarness(new NbdExportCatalog().Add("disk", new MemoryExport(4096)), tls: new NbdTlsSettings(cert, Required: true));
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(3);
        Assert.Equal(ErrTlsReqd, (await h.Client.ReadOptionReplyAsync()).Type);
        await h.Client.SendOptionAsync(1, Encoding.UTF8.GetBytes("disk"));
        Assert.True(await h.Client.IsClosedAsync());
    }

    [Fact]
    public async Task Plaintext_smuggled_behind_starttls_closes_the_connection()
    {
        using var cert = TestCertificates.CreateSelfSigned();
        await using var h = new SessionHarness(new NbdExportCatalog().Add("disk", new MemoryExport(4096)), tls: new NbdTlsSettings(cert, Required: false));
        await h.Client.StartAsync();
        // CVE-2021-3716 shape: STARTTLS and STRUCTURED_REPLY in one write, before the server answered.
        await h.Client.WriteAsync([.. RawNbdClient.Option(5, []), .. RawNbdClient.Option(8, [])]);
        Assert.True(await h.Client.IsClosedAsync());
    }
}
