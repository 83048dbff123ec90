using DmEra.Tests.Tools;
using static DmEra.Tests.Daemon.DaemonEndToEndTests;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Daemon;

public sealed class DaemonTlsTests
{
    [Fact]
    public async Task With_a_certificate_the_daemon_serves_tls_and_refuses_plaintext()
    {
        using var dir = new TempDir();
        var key = dir.File("key.pem");
        var cert = dir.File("cert.pem");
        var openssl = Run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost");
        Assert.True(openssl.ExitCode == 0, openssl.ToString());
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "v"), "--tls-certificate", cert, "--tls-key", key);

        var tls = Run("nbdinfo", $"nbds+unix:///v?socket={d.NbdSocket}&tls-verify-peer=false");
        Assert.True(tls.ExitCode == 0, tls.ToString());
        Assert.Contains("with TLS", tls.StdOut);
        var plain = Run("nbdinfo", d.Uri("v"));
        Assert.NotEqual(0, plain.ExitCode);

        var badKey = DaemonProcess.RunToExit(dir, "--volume", Volume(dir, "w"), "--tls-certificate", cert, "--tls-key", dir.File("missing.pem"));
        Assert.Equal(1, badKey.ExitCode);
        Assert.Contains("TLS certificate", badKey.StdErr);
    }
}
