using System.Net;
using Akka.Actor;
using DmEra.Admin;
using DmEra.Nbd;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DmEra.Daemon;

/// <summary>
/// The daemon's lifetime: start every volume (the kernel's ctr + preresume), then serve them over NBD
/// and the admin socket; on SIGTERM/SIGINT stop accepting, finish what is in flight, and stop every
/// volume with postsuspend semantics (archive, drain the digest, commit). Registered after Akka's own
/// hosted service, so it stops first, while the actor system still runs.
/// </summary>
public sealed class DaemonService(ActorSystem system, DaemonSettings settings, NbdServerLimits limits,
    NbdTlsSettings? tls, ILogger<DaemonService> log, Fleet.FleetSettings? fleetSettings = null) : IHostedService
{
    private Fleet.FleetHost? _fleet;
    private VolumeHost? _volumes;
    private NbdServer? _nbd;
    private AdminServer? _admin;
    private VolumeHealthLog? _health;
    private readonly List<OriginAllocationContext> _allocationContexts = new();
    private readonly List<OriginReadahead> _readaheads = new();

    /// <summary>Volumes whose stop failed (last commit or origin flush), one line each naming the volume: serve then exits 1.</summary>
    public IReadOnlyList<string> StopFailures => _volumes?.StopFailures ?? [];

    public IReadOnlyList<EndPoint> NbdEndPoints { get; private set; } = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await StartCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // The host does not stop a service that failed to start: volumes already started still get
            // their clean stop (archive and commit), listeners already bound are closed.
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        VolumeSpecChecks.Validate(settings.Volumes);
        var specs = settings.Volumes.Select(v => v with { IntentLogBytes = settings.IntentLogBytes }).ToList();
        _volumes = await VolumeHost.StartAsync(system, specs, settings.InlineWrites, log, cancellationToken).ConfigureAwait(false);
        if (_volumes.Served.Count == 0)
            throw new ConfigurationException(settings.Volumes.Count == 0
                ? "no volume to serve (give --volume or dmera.daemon.volumes in akka.hocon)"
                : "no volume could start: " + string.Join("; ", _volumes.Failures));

        var catalog = new NbdExportCatalog();
        _volumes.BackupLimitFraction = settings.BackupLimitFraction;
        _volumes.AttachExports(catalog);
        foreach (var v in _volumes.Served.OrderBy(v => v.Spec.Name, StringComparer.Ordinal))
        {
            var allocation = OriginAllocationContext.TryOpen(v.Spec.OriginPath, v.Volume.SizeBytes);
            if (allocation is not null) _allocationContexts.Add(allocation);
            var readahead = OriginReadahead.TryOpen(v.Spec.OriginPath);
            if (readahead is not null) _readaheads.Add(readahead);
            v.Allocation = allocation;
            catalog.Add(v.Spec.Name, new EraVolumeExport(v, allocation, readahead, log));
        }
        _nbd = new NbdServer(catalog, limits, tls, log);
        var bound = new List<EndPoint>();
        foreach (var endpoint in settings.Listen)
            foreach (var ip in await Resolve(endpoint).ConfigureAwait(false))
                bound.Add(Listen(ip.ToString(), () => _nbd.ListenTcp(ip)));
        if (settings.UnixSocket is { } unix)
            bound.Add(Listen(unix, () =>
            {
                // bind(2) in a missing directory fails with ENOENT, which .NET reports as "Cannot assign requested address".
                if (Path.GetDirectoryName(Path.GetFullPath(unix)) is { } dir && !Directory.Exists(dir))
                    throw new IOException($"directory {dir} does not exist");
                _nbd.ListenUnix(unix);
                return new System.Net.Sockets.UnixDomainSocketEndPoint(unix);
            }));
        NbdEndPoints = bound;
        IAdminTarget admin = _volumes;
        if (fleetSettings is { Enabled: true })
        {
            // Joined after NBD serves: the volumes never wait for the fleet, and never stop with it.
            _fleet = new Fleet.FleetHost(fleetSettings, new Fleet.FleetVolumes(_volumes, name => catalog.Remove(name), log), log);
            try
            {
                _fleet.Start();
            }
            catch (Exception e) when (e is not ConfigurationException)
            {
                throw new ConfigurationException($"cannot join the fleet on {fleetSettings.Listen!.Value.Host}:{fleetSettings.Listen.Value.Port}: {e.InnerException?.Message ?? e.Message}");
            }
            admin = new Fleet.FleetAdminTarget(_fleet);
        }
        _admin = AdminServer.Start(settings.AdminSocket, admin, log, settings.AdminCommandTimeout, settings.AdminListenBacklog,
            settings.AdminMaxConnections, settings.AdminIdleTimeout);
        _health = new VolumeHealthLog(_volumes, log, settings.HealthInterval, settings.MetadataWarnFraction);
        _health.Start();
        log.LogInformation("dmera serving {Volumes} on {EndPoints}; admin socket {Admin}",
            string.Join(", ", _volumes.VolumeNames), string.Join(", ", bound), settings.AdminSocket);
    }

    /// <summary>A listener that cannot start stops the daemon with the reason, never a stack trace.</summary>
    private static EndPoint Listen(string where, Func<EndPoint> listen)
    {
        try
        {
            return listen();
        }
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
        {
            throw new ConfigurationException($"cannot listen on {where}: the address is in use (another dmera serve, or another server, listens there); stop it or pick another with --listen HOST:PORT or --socket PATH");
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or NbdException or IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException(e.Message.StartsWith("cannot listen", StringComparison.Ordinal) ? e.Message : $"cannot listen on {where}: {e.Message}");
        }
    }

    private static async Task<IPEndPoint[]> Resolve(EndPoint endpoint) => endpoint switch
    {
        IPEndPoint ip => [ip],
        DnsEndPoint dns => (await Dns.GetHostAddressesAsync(dns.Host).ConfigureAwait(false))
            .Select(a => new IPEndPoint(a, dns.Port)).Take(1).ToArray(),
        _ => throw new ConfigurationException($"cannot listen on {endpoint}"),
    };

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        log.LogInformation("dmera stopping: no new connections, finishing requests in flight");
        if (_health is not null) await _health.DisposeAsync().ConfigureAwait(false);
        // The fleet leave starts first, so the others stop routing here, but the volumes do not wait for it: a leave
        // can take up to dmera.fleet.leave-timeout, and a stop that is cut short before the volumes commit their
        // tracking costs a log replay at the next start. A group request that reaches a stopping volume fails, and
        // the group's answer names it.
        var leaving = _fleet is null ? Task.CompletedTask : _fleet.DisposeAsync().AsTask();
        if (_admin is not null) await _admin.DisposeAsync().ConfigureAwait(false);
        if (_nbd is not null) await _nbd.StopAsync().ConfigureAwait(false);
        if (_volumes is not null) await _volumes.DisposeAsync().ConfigureAwait(false);
        await leaving.ConfigureAwait(false);
        if (_nbd is not null) await _nbd.DisposeAsync().ConfigureAwait(false);
        foreach (var allocation in _allocationContexts) allocation.Dispose();
        foreach (var readahead in _readaheads) readahead.Dispose();
    }
}
