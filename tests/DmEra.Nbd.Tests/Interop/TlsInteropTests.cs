using System.Text.Json;
using DmEra.Nbd.Exports;
using DmEra.Nbd.Tests.Support;
using Xunit;

namespace DmEra.Nbd.Tests.Interop;

/// <summary>X.509 TLS through STARTTLS, checked with libnbd's GnuTLS client.</summary>
public sealed class TlsInteropTests
{
    [Fact]
    public async Task Nbdinfo_and_nbdcopy_work_over_tls_and_plaintext_is_refused_in_required_mode()
    {
        var (ca, cert) = TestCertificates.CreateChain();
        using (ca)
        using (cert)
        {
            await using var server = new InteropServer(tls: new NbdTlsSettings(cert, Required: true));
            server.Catalog.Add("disk", new MemoryExport(8 << 20));
            string clientDir = Path.Combine(server.Directory, "client-pki");
            TestCertificates.WriteClientDirectory(ca, clientDir);

            var info = await ProcessRunner.RunAsync("nbdinfo", "--json", $"nbds://127.0.0.1:{server.Endpoint.Port}/disk?tls-certificates={clientDir}");
            Assert.True(info.ExitCode == 0, info.Describe("nbdinfo over TLS"));
            var root = JsonDocument.Parse(info.Stdout).RootElement;
            Assert.True(root.GetProperty("TLS").GetBoolean());
            Assert.Equal(8L << 20, root.GetProperty("exports")[0].GetProperty("export-size").GetInt64());

            string source = Path.Combine(server.Directory, "src.raw");
            var content = new byte[8 << 20];
            new Random(3).NextBytes(content);
            await File.WriteAllBytesAsync(source, content);
            string uri = $"nbds+unix:///disk?socket={server.SocketPath}&tls-certificates={clientDir}";
            // Over a Unix socket the hostname check has nothing to match, so only the CA is verified.
            var copy = await ProcessRunner.RunAsync("nbdcopy", "--flush", source, uri);
            Assert.True(copy.ExitCode == 0, copy.Describe("nbdcopy over TLS"));
            string back = Path.Combine(server.Directory, "back.raw");
            var copyBack = await ProcessRunner.RunAsync("nbdcopy", uri, back);
            Assert.True(copyBack.ExitCode == 0, copyBack.Describe("nbdcopy out over TLS"));
            var downloaded = await File.ReadAllBytesAsync(back);
            Assert.True(content.AsSpan().SequenceEqual(downloaded), "bytes differ after a TLS round trip");

            var plain = await ProcessRunner.RunAsync("nbdinfo", server.TcpUri("disk"));
            Assert.NotEqual(0, plain.ExitCode);
        }
    }
}
