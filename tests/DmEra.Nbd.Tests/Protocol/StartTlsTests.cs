using System.Buffers.Binary;
using System.Text;
using DmEra.Nbd.Exports;
using DmEra.Nbd.Tests.Support;
using Xunit;

namespace DmEra.Nbd.Tests.Protocol;

public sealed class StartTlsTests
{
    [Fact]
    public async Task Starttls_forgets_structured_replies_negotiated_in_plaintext()
    {
        using var cert = TestCertificates.CreateSelfSigned();
        await using var h = new SessionHarness(new NbdExportCatalog().Add("disk", new MemoryExport(4096)), tls: new NbdTlsSettings(cert, Required: false));
        await h.Client.StartAsync();
        await h.Client.SendOptionAsync(8);
        Assert.Equal(1u, (await h.Client.ReadOptionReplyAsync()).Type);
        await h.Client.SendOptionAsync(5);
        Assert.Equal(1u, (await h.Client.ReadOptionReplyAsync()).Type);

        var ssl = new System.Net.Security.SslStream(h.Client.Stream, leaveInnerStreamOpen: true, (_, _, _, _) => true);
        await ssl.AuthenticateAsClientAsync("localhost").WaitAsync(TimeSpan.FromSeconds(10));
        var tls = new RawNbdClient(ssl);
        // A second STARTTLS inside TLS is invalid.
        await tls.SendOptionAsync(5);
        Assert.Equal(0x80000003u, (await tls.ReadOptionReplyAsync()).Type);
        // SET_META_CONTEXT now fails: the plaintext STRUCTURED_REPLY no longer counts (CVE-2021-3716).
        await tls.SendOptionAsync(10, RawNbdClient.MetaData("disk", "base:allocation"));
        Assert.Equal(0x80000003u, (await tls.ReadOptionReplyAsync()).Type);
        await tls.SendOptionAsync(7, RawNbdClient.InfoData("disk"));
        var replies = await tls.ReadOptionRepliesAsync();
        Assert.Equal(1u, replies[^1].Type);
        var export = replies.Single(r => r.Type == 3 && BinaryPrimitives.ReadUInt16BigEndian(r.Data) == 0);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(export.Data.AsSpan(10)) & (1 << 7)); // no DF without SR
        await tls.SendRequestAsync(0, 1, 0, 512);
        var read = await tls.ReadReplyAsync(512);
        Assert.False(read.Structured);
        Assert.Equal(0u, read.Error);
    }
}
