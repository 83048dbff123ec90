using System.Security.Cryptography.X509Certificates;
using Akka;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Cluster;
using Akka.Cluster.Tools.Singleton;
using Akka.Configuration;
using ConfigurationException = DmEra.Daemon.ConfigurationException;
using Akka.Remote.Transport.DotNetty;
using Microsoft.Extensions.Logging;

namespace DmEra.Fleet;

/// <summary>
/// This daemon's membership in the fleet: a separate ActorSystem with Akka.Cluster, apart from the one
/// the volumes and NBD run on. When this node is downed (the split brain resolver, a partition, a long
/// stall) or quarantined, only the fleet system ends: the volumes keep serving, and after
/// dmera.fleet.rejoin-after a fresh fleet system joins again through the seeds. A failed TLS handshake does not
/// end it (<see cref="KeepOnTlsFailure"/>): the peer that failed it is only unreachable.
/// </summary>
public sealed class FleetHost : IAsyncDisposable
{
    private readonly FleetSettings _settings;
    private readonly FleetVolumes _volumes;
    private readonly ILogger _log;
    private readonly X509Certificate2? _certificate;
    private readonly CancellationTokenSource _stopping = new();
    private volatile ActorSystem? _system;

    public FleetHost(FleetSettings settings, FleetVolumes volumes, ILogger log)
    {
        _settings = settings;
        _volumes = volumes;
        _log = log;
        if (settings.TlsCertificate is { } path)
        {
            if (!File.Exists(path)) throw new ConfigurationException($"dmera.fleet.tls.certificate {path}: no such file");
            try
            {
                _certificate = X509CertificateLoader.LoadPkcs12FromFile(path, settings.TlsPassword);
            }
            catch (Exception e) when (e is IOException or global::System.Security.Cryptography.CryptographicException)
            {
                throw new ConfigurationException($"dmera.fleet.tls.certificate {path}: {e.Message}");
            }
        }
    }

    public FleetSettings Settings => _settings;
    public FleetVolumes Volumes => _volumes;

    /// <summary>The fleet system now, or null while this node is out of the fleet (between a downing and the rejoin).</summary>
    public ActorSystem? System => _system;

    /// <summary>Binds the fleet port (a port in use stops the daemon with the reason) and starts joining; does not wait for the join.</summary>
    public void Start()
    {
        CheckPortFree();
        _system = CreateSystem();
    }

    /// <summary>
    /// Akka's transport binds with address reuse, so on Linux a second daemon given the same fleet port would
    /// share it with the first and the two would take each other's connections: refused here, once, at start.
    /// </summary>
    private void CheckPortFree()
    {
        var (host, port) = _settings.Listen!.Value;
        if (port == 0) return;
        foreach (var address in global::System.Net.Dns.GetHostAddresses(host))
        {
            using var probe = new global::System.Net.Sockets.Socket(address.AddressFamily, global::System.Net.Sockets.SocketType.Stream, global::System.Net.Sockets.ProtocolType.Tcp);
            try
            {
                probe.Bind(new global::System.Net.IPEndPoint(address, port));
            }
            catch (global::System.Net.Sockets.SocketException e) when (e.SocketErrorCode == global::System.Net.Sockets.SocketError.AddressAlreadyInUse)
            {
                throw new ConfigurationException($"cannot join the fleet on {host}:{port}: the address is in use (another dmera serve, or another server, listens there); pick another with --cluster-listen HOST:PORT");
            }
        }
    }

    private ActorSystem CreateSystem()
    {
        var (host, port) = _settings.Listen!.Value;
        var seeds = _settings.Seeds.Select(s => $"\"{_settings.Scheme}://{FleetSettings.SystemName}@{s.Host}:{s.Port}\"");
        var hocon = $$"""
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp.hostname = "{{host}}"
            akka.remote.dot-netty.tcp.port = {{port}}
            akka.remote.dot-netty.tcp.enable-ssl = {{(_certificate is null ? "false" : "true")}}
            akka.cluster.seed-nodes = [{{string.Join(", ", seeds)}}]
            akka.cluster.roles = ["dmera", "{{FleetSettings.NodeRolePrefix}}{{_settings.Name}}"]
            akka.actor.serializers.dmera-fleet = "DmEra.Fleet.FleetSerializer, dmera"
            akka.actor.serialization-bindings { "DmEra.Fleet.IFleetMessage, dmera" = dmera-fleet }
            """;
        var config = ConfigurationFactory.ParseString(hocon).WithFallback(_settings.System);
        ActorSystemSetup setup = ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(config));
        if (_certificate is not null)
            // Mutual TLS, and a peer must present this same certificate: the fleet shares one, no public CA is trusted.
            setup = setup.And(new DotNettySslSetup(_certificate, suppressValidation: false, requireMutualAuthentication: true,
                CertificateValidation.PinnedCertificate(_certificate.Thumbprint)));
        var system = ActorSystem.Create(FleetSettings.SystemName, setup);
        KeepOnTlsFailure(system);
        var cluster = Cluster.Get(system);
        system.ActorOf(MembershipLog.Props(_log), "membership");
        system.ActorOf(VolumeDirectory.Props(_volumes, _settings.Name, _settings.RequestTimeout), VolumeDirectory.Name);
        system.ActorOf(GroupParticipant.Props(_volumes, _settings.Name, _settings.HoldLease, _log), GroupParticipant.Name);
        system.ActorOf(ClusterSingletonManager.Props(GroupCoordinator.Props(_settings.PhaseTimeout, _settings.HoldLease, _log), PoisonPill.Instance,
            ClusterSingletonManagerSettings.Create(system).WithRole("dmera")), GroupCoordinator.Name);
        // Removed from the fleet (downed, or left): end this system so a fresh one can join again.
        cluster.RegisterOnMemberRemoved(() => End(system));
        _log.LogInformation("fleet: node {Node} at {Address} joining through {Seeds}", _settings.Name, cluster.SelfAddress,
            _settings.Seeds.Count == 0 ? "nobody (no seeds: this node joins itself)" : string.Join(", ", _settings.Seeds.Select(s => $"{s.Host}:{s.Port}")));
        if (_settings.Seeds.Count == 0) cluster.Join(cluster.SelfAddress);
        system.WhenTerminated.ContinueWith(_ => OnTerminated(system), TaskScheduler.Default);
        return system;
    }

    private async Task OnTerminated(ActorSystem system)
    {
        if (_stopping.IsCancellationRequested) return;
        if (_system == system) _system = null;
        _log.LogWarning("fleet: this node is out of the fleet (downed, or cut off); its volumes and NBD keep serving; rejoining in {Delay}s",
            _settings.RejoinAfter.TotalSeconds);
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_settings.RejoinAfter, _stopping.Token).ConfigureAwait(false);
                _system = CreateSystem();
                return;
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e)
            {
                _log.LogWarning("fleet: rejoining failed ({Message}); trying again in {Delay}s", e.Message, _settings.RejoinAfter.TotalSeconds);
            }
        }
    }

    /// <summary>
    /// Akka.Remote (1.5.75, DotNetty) runs CoordinatedShutdown, ending the ActorSystem, on any failed outgoing TLS
    /// handshake (its internal TlsHandshakeFailureReason): a peer with another certificate, but also a good member
    /// whose own fleet system is going away mid-handshake. A node that dials an intruder listed among the seeds
    /// would end, and its re-created system end the others' handshakes with it in turn: started together, whole
    /// fleets were seen ending every second and never forming. The first phase of the fleet system's shutdown
    /// (dmera-tls-veto, recover = off, in akka.hocon) fails for that reason, so the shutdown stops there and the
    /// system goes on; the peer is unreachable like one that does not answer. CoordinatedShutdown runs once per
    /// system, so after a veto this system ends by Terminate (see <see cref="DisposeAsync"/>).
    /// </summary>
    private void KeepOnTlsFailure(ActorSystem system)
    {
        var shutdown = CoordinatedShutdown.Get(system);
        shutdown.AddTask("dmera-tls-veto", "keep-the-fleet-on-a-tls-failure", () =>
        {
            if (!IsTlsFailure(shutdown.ShutdownReason)) return Task.FromResult(Done.Instance);
            _log.LogWarning("fleet: {Reason} (that peer presents another certificate, or went away mid-handshake): this node stays in the fleet; the peer is unreachable to it",
                shutdown.ShutdownReason);
            return Task.FromException<Done>(new InvalidOperationException("a failed TLS handshake does not end the fleet system"));
        });
    }

    private static bool IsTlsFailure(CoordinatedShutdown.Reason? reason) => reason?.GetType().Name == "TlsHandshakeFailureReason";

    /// <summary>
    /// Ends <paramref name="system"/> through its coordinated shutdown (joining one under way), or at once when that
    /// was spent on a vetoed TLS failure: Terminate alone does not run it (run-by-actor-system-terminate = off).
    /// </summary>
    private static Task End(ActorSystem system)
    {
        var shutdown = CoordinatedShutdown.Get(system);
        return IsTlsFailure(shutdown.ShutdownReason) ? system.Terminate() : shutdown.Run(CoordinatedShutdown.ActorSystemTerminateReason.Instance);
    }

    /// <summary>Leaves the fleet gracefully (the coordinator hands over if it runs here), bounded by dmera.fleet.leave-timeout.</summary>
    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        if (_system is not { } system) return;
        var cluster = Cluster.Get(system);
        if (Alone(cluster))
        {
            // Nobody to leave to, nor to hand the coordinator over to: a graceful leave would only wait out its timeouts.
            await system.Terminate().WaitAsync(_settings.LeaveTimeout).ConfigureAwait(false);
            return;
        }
        Task leaving;
        if (IsTlsFailure(CoordinatedShutdown.Get(system).ShutdownReason))
        {
            // The shutdown was spent on a vetoed TLS failure: leave by hand; being removed ends the system.
            cluster.Leave(cluster.SelfAddress);
            leaving = system.WhenTerminated;
        }
        else leaving = CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
        var deadline = DateTime.UtcNow + _settings.LeaveTimeout;
        while (!leaving.IsCompleted)
        {
            if (DateTime.UtcNow >= deadline)
            {
                _log.LogWarning("fleet: leaving took longer than {Timeout}s; stopping without a goodbye", _settings.LeaveTimeout.TotalSeconds);
                break;
            }
            // When the whole fleet stops at once, the others exit while this node is still leaving, and Akka would
            // wait out its cluster-exiting phase (10 s) for a removal that nobody is left to agree to.
            if (Alone(cluster)) break;
            await Task.WhenAny(leaving, Task.Delay(TimeSpan.FromMilliseconds(200))).ConfigureAwait(false);
        }
        if (leaving.IsCompleted) return;
        // Terminate does not wait for the coordinated shutdown under way (run-by-actor-system-terminate = off).
        await system.Terminate().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
    }

    /// <summary>
    /// No other member this node could still say goodbye to or hand the coordinator over to: the others are
    /// gone from the state, unreachable, or exiting themselves (as when the whole fleet stops at once).
    /// </summary>
    private static bool Alone(Cluster cluster) =>
        !cluster.State.Members.Any(m => m.Address != cluster.SelfAddress && !cluster.State.Unreachable.Contains(m)
            && m.Status is MemberStatus.Up or MemberStatus.WeaklyUp or MemberStatus.Joining or MemberStatus.Leaving);
}
