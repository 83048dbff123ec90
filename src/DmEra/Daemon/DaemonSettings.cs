using System.Net;
using Akka.Configuration;
using DmEra.Engine;
using DmEra.Storage;

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
    public TimeSpan AdminCommandTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public int AdminListenBacklog { get; init; } = 16;
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(180);
    public InlineWriteSettings InlineWrites { get; init; } = new();
    public double BackupLimitFraction { get; init; } = 0.25;
    public long IntentLogBytes { get; init; } = 4 << 20;

    public static DaemonSettings FromConfig(Config config)
    {
        // A settings file (--config) need not have the block at all: it may only tune the engine, with volumes given as flags.
        var daemon = config.GetConfig("dmera.daemon") ?? ConfigurationFactory.Empty;
        // Scalars the file leaves out come from the shipped akka.hocon (the volume list does not: empty is meaningful).
        var shipped = EngineSettings.ShippedConfig;
        var scalars = daemon.WithFallback(shipped.GetConfig("dmera.daemon"));
        var storage = (config.GetConfig("dmera.storage") ?? ConfigurationFactory.Empty).WithFallback(shipped.GetConfig("dmera.storage"));
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
                AllowShrink = o.GetKey("allow-shrink") is { } shrink && VolumeSpec.ParseYes(shrink.GetString(), "allow-shrink", $"volume {name}"),
                Format = o.GetKey("format") is { } format && VolumeSpec.ParseYes(format.GetString(), "format", $"volume {name}"),
                BackupStorePath = o.GetKey("backup-store")?.GetString() is { Length: > 0 } store ? store : null,
                BackupLimitBytes = o.GetKey("backup-limit")?.GetString() is { } limit ? VolumeSpec.ParseBackupLimit(limit, $"volume {name}") : 0,
            });
        }
        var unix = daemon.GetString("unix-socket", "");
        return new DaemonSettings
        {
            Volumes = volumes,
            Listen = daemon.GetStringList("listen", []).Select(ParseEndPoint).ToList(),
            UnixSocket = unix.Length == 0 ? null : unix,
            AdminSocket = daemon.GetString("admin-socket", "var/admin.sock"),
            HealthInterval = scalars.GetTimeSpan("health-interval"),
            MetadataWarnFraction = scalars.GetDouble("metadata-warn-fraction"),
            AdminCommandTimeout = scalars.GetTimeSpan("admin-command-timeout"),
            AdminListenBacklog = scalars.GetInt("admin-listen-backlog"),
            AdminMaxConnections = Math.Max(1, scalars.GetInt("admin-max-connections")),
            AdminIdleTimeout = scalars.GetTimeSpan("admin-idle-timeout"),
            ShutdownTimeout = scalars.GetTimeSpan("shutdown-timeout"),
            InlineWrites = new InlineWriteSettings
            {
                MaxBytes = storage.GetInt("inline-write-max-bytes"),
                SlowWrite = storage.GetTimeSpan("slow-inline-write"),
                FirstBackoff = storage.GetTimeSpan("inline-write-first-backoff"),
                MaxBackoff = storage.GetTimeSpan("inline-write-max-backoff"),
            },
            BackupLimitFraction = scalars.GetDouble("backup-limit-fraction") is var f && f > 0 && f <= 1
                ? f
                : throw new ConfigurationException("dmera.daemon.backup-limit-fraction must be in (0, 1]"),
            IntentLogBytes = scalars.GetLong("intent-log-bytes") is var l && (l == 0 || l >= 4 * 4096)
                ? l
                : throw new ConfigurationException("dmera.daemon.intent-log-bytes must be 0 or at least 16384 (four 4 KiB blocks)"),
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
