using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DmEra.Nbd.Tests.Support;

/// <summary>Makes a throwaway CA and a server certificate for 127.0.0.1/localhost, in memory or as GnuTLS-style PEM files.</summary>
internal static class TestCertificates
{
    public static X509Certificate2 CreateSelfSigned() => CreateChain().Server;

    public static (X509Certificate2 Ca, X509Certificate2 Server) CreateChain()
    {
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=DmEra test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var now = DateTimeOffset.UtcNow;
        var ca = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));

        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var serial = RandomNumberGenerator.GetBytes(8);
        serial[0] &= 0x7f;
        using var signed = request.Create(ca, now.AddDays(-1), now.AddDays(29), serial);
        var withKey = signed.CopyWithPrivateKey(key);
        // Re-import so SslStream on Linux can use the key (ephemeral keys are fine for PKCS#12 round trips).
        var server = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        return (ca, server);
    }

    /// <summary>Writes ca-cert.pem into <paramref name="directory"/>, the layout libnbd's tls-certificates expects of a client.</summary>
    public static void WriteClientDirectory(X509Certificate2 ca, string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "ca-cert.pem"), ca.ExportCertificatePem());
    }
}
