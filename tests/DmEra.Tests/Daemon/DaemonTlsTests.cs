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

    [Fact]
    public async Task Dmera_backup_reads_a_tls_view_trusting_the_ca_its_uri_names_and_refuses_another()
    {
        using var dir = new TempDir();
        var (key, cert) = (dir.File("key.pem"), dir.File("cert.pem"));
        Assert.Equal(0, Run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1").ExitCode);
        Directory.CreateDirectory(dir.File("ca"));
        File.Copy(cert, dir.File("ca/ca-cert.pem"));
        Directory.CreateDirectory(dir.File("other"));
        Assert.Equal(0, Run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.File("other/key.pem"),
            "-out", dir.File("other/ca-cert.pem"), "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1").ExitCode);
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "v"), "--tls-certificate", cert, "--tls-key", key);
        var port = System.Text.RegularExpressions.Regex.Match(d.Log, @"NBD server listening on 127\.0\.0\.1:(\d+)").Groups[1].Value;

        // Over TCP libnbd checks the server's certificate against tls-certificates=DIR (a local file: allowed, as
        // nbdinfo and nbdcopy allow it, since the URI is the user's own).
        var wrongCa = Dmera("backup", "create", "v", dir.File("bad"), "--uri", $"nbds://127.0.0.1:{port}/?tls-certificates={dir.File("other")}",
            "--admin-socket", d.AdminSocket);
        Assert.True(wrongCa.ExitCode == 1, wrongCa.ToString());
        Assert.Contains("certificate", wrongCa.StdErr);
        Assert.False(Directory.Exists(dir.File("bad")));

        var good = Dmera("backup", "create", "v", dir.File("good"), "--uri", $"nbds://127.0.0.1:{port}/?tls-certificates={dir.File("ca")}",
            "--admin-socket", d.AdminSocket);
        Assert.True(good.ExitCode == 0, good.ToString());
        Assert.Equal(0, Dmera("backup", "verify", dir.File("good")).ExitCode);
    }
}
