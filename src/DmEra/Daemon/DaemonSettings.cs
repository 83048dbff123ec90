using System.Net;
using Akka.Configuration;

namespace DmEra.Daemon;

/// <summary>
/// What <c>dmera serve</c> runs: the <c>dmera.daemon</c> block of akka.hocon, with command-line flags
/// laid over it (a flag given replaces the file's whole list, it does not add to it).
/// </summary>
public sealed record DaemonSettings
{
    public IReadOnlyList<VolumeSpec> Volumes { get; init; } = [];
    public IReadOnlyList<EndPoint> Listen { get; init; } = [];
    public string? UnixSocket { get; init; }
    public string AdminSocket { get; init; } = "var/admin.sock";
    public int AdminMaxConnections { get; init; } = 16;
    public TimeSpan AdminIdleTimeout { get; init; } = TimeSpan.FromMinutes(10);
    public string? TlsCertificate { get; init; }
    public string? TlsKey { get; init; }
    public bool TlsRequired { get; init; }
    public TimeSpan HealthInterval { get; init; } = TimeSpan.FromSeconds(10);
    public double MetadataWarnFraction { get; init; } = 0.8;

    public static DaemonSettings FromConfig(Config config)
    {
        var daemon = config.GetConfig("dmera.daemon") ?? throw new ConfigurationException("akka.hocon has no dmera.daemon block");
        var readOnly = daemon.GetStringList("read-only", []).ToHashSet(StringComparer.Ordinal);
        var volumes = new List<VolumeSpec>();
        foreach (var v in daemon.GetValue("volumes")?.GetArray() ?? [])
        {
            var o = v.GetObject();
            string Field(string key) => o.GetKey(key)?.GetString() ?? throw new ConfigurationException($"dmera.daemon.volumes: an entry has no '{key}'");
            var name = VolumeSpec.ValidateName(Field("name"));
            volumes.Add(new VolumeSpec(name, Field("origin"), Field("metadata"),
                VolumeSpec.ParseBlockSize(o.GetKey("block-size")?.GetString() ?? "128", $"volume {name}"))
            {
                CreateOriginBytes = o.GetKey("create-origin-bytes")?.GetLong() ?? 0,
                CreateMetadataBytes = o.GetKey("create-metadata-bytes")?.GetLong() ?? 0,
                ReadOnly = readOnly.Contains(name),
            });
        }
        var unix = daemon.GetString("unix-socket", "");
        return new DaemonSettings
        {
            Volumes = volumes,
            Listen = daemon.GetStringList("listen", []).Select(ParseEndPoint).ToList(),
            UnixSocket = unix.Length == 0 ? null : unix,
            AdminSocket = daemon.GetString("admin-socket", "var/admin.sock"),
            AdminMaxConnections = Math.Max(1, daemon.GetInt("admin-max-connections", 16)),
            AdminIdleTimeout = daemon.GetTimeSpan("admin-idle-timeout", TimeSpan.FromMinutes(10)),
            HealthInterval = daemon.GetTimeSpan("health-interval", TimeSpan.FromSeconds(10)),
            MetadataWarnFraction = daemon.GetDouble("metadata-warn-fraction", 0.8),
        };
    }

    /// <summary>HOST:PORT, [IPv6]:PORT, or a bare port on loopback.</summary>
    public static EndPoint ParseEndPoint(string text)
    {
        if (int.TryParse(text, out var bare)) return new IPEndPoint(IPAddress.Loopback, CheckPort(bare, text));
        if (IPEndPoint.TryParse(text, out var ip) && text.Contains(':') && (ip.Port != 0 || text.EndsWith(":0")))
            return new IPEndPoint(ip.Address, CheckPort(ip.Port, text));
        var colon = text.LastIndexOf(':');
        if (colon > 0 && int.TryParse(text[(colon + 1)..], out var port))
            return new DnsEndPoint(text[..colon], CheckPort(port, text));
        throw new ConfigurationException($"--listen '{text}': expected HOST:PORT (e.g. 127.0.0.1:10809 or [::1]:10809)");
    }

    private static int CheckPort(int port, string text) =>
        port is >= 0 and <= 65535 ? port : throw new ConfigurationException($"--listen '{text}': port {port} is out of range");
}
