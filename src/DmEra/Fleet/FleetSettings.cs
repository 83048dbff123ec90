using Akka.Configuration;
using ConfigurationException = DmEra.Daemon.ConfigurationException;
using DmEra.Engine;

namespace DmEra.Fleet;

/// <summary>
/// The <c>dmera.fleet</c> block of akka.hocon with the serve flags laid over it. No listen address means no
/// fleet: the daemon is a single node and opens no remoting port.
/// </summary>
public sealed record FleetSettings
{
    public const string SystemName = "dmera-fleet";
    /// <summary>Each member's node name travels in its roles (role "node=NAME"), so membership alone names every node.</summary>
    public const string NodeRolePrefix = "node=";

    /// <summary>HOST:PORT remoting binds to and advertises; null = no fleet.</summary>
    public (string Host, int Port)? Listen { get; init; }
    public IReadOnlyList<(string Host, int Port)> Seeds { get; init; } = [];
    public string? NodeName { get; init; }
    public TimeSpan HoldLease { get; init; } = TimeSpan.FromSeconds(3);
    public TimeSpan PhaseTimeout { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan RejoinAfter { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan LeaveTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public string? TlsCertificate { get; init; }
    public string? TlsPassword { get; init; }
    /// <summary>The fleet ActorSystem's own Akka settings (dmera.fleet.system).</summary>
    public Config System { get; init; } = ConfigurationFactory.Empty;

    public bool Enabled => Listen is not null;
    public string Name => NodeName ?? $"{Listen!.Value.Host}:{Listen.Value.Port}";
    public string Scheme => TlsCertificate is null ? "akka.tcp" : "akka.ssl.tcp";

    public static FleetSettings FromConfig(Config config)
    {
        var shipped = EngineSettings.ShippedConfig.GetConfig("dmera.fleet");
        var fleet = (config.GetConfig("dmera.fleet") ?? ConfigurationFactory.Empty).WithFallback(shipped);
        var listen = fleet.GetString("listen", "");
        var name = fleet.GetString("node-name", "");
        var cert = fleet.GetString("tls.certificate", "");
        var s = new FleetSettings
        {
            Listen = listen.Length == 0 ? null : ParseHostPort(listen, "dmera.fleet.listen"),
            Seeds = fleet.GetStringList("seeds", []).Select(x => ParseHostPort(x, "dmera.fleet.seeds")).ToList(),
            NodeName = name.Length == 0 ? null : name,
            HoldLease = fleet.GetTimeSpan("hold-lease"),
            PhaseTimeout = fleet.GetTimeSpan("phase-timeout"),
            RequestTimeout = fleet.GetTimeSpan("request-timeout"),
            RejoinAfter = fleet.GetTimeSpan("rejoin-after"),
            LeaveTimeout = fleet.GetTimeSpan("leave-timeout"),
            TlsCertificate = cert.Length == 0 ? null : cert,
            TlsPassword = fleet.GetString("tls.password", ""),
            System = fleet.GetConfig("system") ?? ConfigurationFactory.Empty,
        };
        return s.Check();
    }

    public FleetSettings WithFlags(string? listen, string[]? seeds, string? nodeName)
    {
        var s = this;
        if (listen is not null) s = s with { Listen = ParseHostPort(listen, "--cluster-listen") };
        if (seeds is { Length: > 0 }) s = s with { Seeds = seeds.Select(x => ParseHostPort(x, "--cluster-seed")).ToList() };
        if (nodeName is not null) s = s with { NodeName = nodeName };
        return s.Check();
    }

    private FleetSettings Check()
    {
        if (Listen is null && (Seeds.Count > 0 || NodeName is not null))
            throw new ConfigurationException("--cluster-seed and --node-name need --cluster-listen HOST:PORT (the address this node's fleet port binds to)");
        if (PhaseTimeout * 2 >= HoldLease)
            throw new ConfigurationException("dmera.fleet.phase-timeout must be under half of hold-lease: a hold must outlast the coordinator's wait for the holds and the checkpoints");
        if (RequestTimeout <= PhaseTimeout * 2)
            throw new ConfigurationException("dmera.fleet.request-timeout must be over twice phase-timeout: an admin request waits for a group's two phases, and would report a group that succeeded as not answering");
        if (NodeName is { } n && (n.Length == 0 || n.Any(c => char.IsWhiteSpace(c) || c == ',')))
            throw new ConfigurationException($"node name '{n}': no spaces or commas");
        return this;
    }

    /// <summary>HOST:PORT or [IPv6]:PORT; the host is kept as written, because Akka compares addresses as strings.</summary>
    public static (string Host, int Port) ParseHostPort(string text, string what)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], out var port) || port is < 0 or > 65535)
            throw new ConfigurationException($"{what} '{text}': expected HOST:PORT (e.g. 127.0.0.1:4053)");
        var host = text[..colon];
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        return (host, port);
    }
}
