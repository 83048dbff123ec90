using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DmEra.Tests.Tools;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Fleet;

/// <summary>Fleet remoting over mutual TLS: members that share the fleet's certificate join, another certificate does not.</summary>
[Collection(FleetNodes.Collection)]
public sealed class FleetTlsTests
{
    /// <summary>A self-signed certificate fit for both ends of mutual TLS, as a PKCS#12 file.</summary>
    private static string Certificate(TempDir dir, string name)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));   // serverAuth, clientAuth
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var path = dir.File($"{name}.p12");
        File.WriteAllBytes(path, cert.Export(X509ContentType.Pkcs12, "secret"));
        return path;
    }

    private static int Rejoins(string log) => log.Split('\n').Count(l => l.Contains("rejoining in"));

    [Fact]
    public async Task Members_with_the_fleet_certificate_join_over_tls_and_a_node_with_another_is_kept_out_yet_serves()
    {
        using var certs = new TempDir();
        var shared = Certificate(certs, "fleet");
        var other = Certificate(certs, "intruder");
        // All three at once, x among everybody's seeds: a and b dial x while they join, and x dials them. Akka ends a
        // system whose outgoing handshake fails; the fleet's does not end (a, b and x are seen never to re-create it),
        // or started together they would end each other's, over and over, and never form.
        await using var fleet = await FleetNodes.StartAsync(["a", "b", "x"], [["a1"], ["b1"], ["x1"]],
            extraHocon: i => $"dmera.fleet.tls {{ certificate = \"{(i == 2 ? other : shared)}\", password = secret }}");
        await fleet.WaitUntilAsync("a and b list each other's volumes", () => fleet.Ask(0, "volumes").SequenceEqual(["a1 a", "b1 b"]));
        var nodes = fleet.Ask(1, "nodes");
        Assert.All(nodes, n => Assert.Contains(" akka.ssl.tcp://dmera-fleet@127.0.0.1:", n));
        Assert.DoesNotContain(nodes, n => n.StartsWith("x "));
        await fleet.WaitUntilAsync("x's handshake is refused, and x's fleet system goes on",
            () => fleet[2].Log.Contains("TLS handshake failed") && fleet[2].Log.Contains("this node stays in the fleet; the peer is unreachable to it"));
        Assert.DoesNotContain(fleet.Ask(2, "nodes"), n => n.StartsWith("x up "));   // x does not start a fleet of its own either
        for (var i = 0; i < 3; i++)
            Assert.True(Rejoins(fleet[i].Log) == 0, $"{fleet.Names[i]} re-created its fleet system {Rejoins(fleet[i].Log)} times\n{fleet.Logs()}");
        Assert.DoesNotContain(fleet.Ask(0, "nodes"), n => n.StartsWith("x "));
        var read = Run("nbdinfo", fleet[2].Uri("x1"));
        Assert.True(read.ExitCode == 0, read.ToString());
    }
}
