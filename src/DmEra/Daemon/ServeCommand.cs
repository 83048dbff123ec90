using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using Akka.Configuration;
using Akka.Hosting;
using DmEra.Engine;
using DmEra.Nbd;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DmEra.Daemon;

/// <summary>dmera serve: the hosted daemon (Akka.Hosting on Microsoft.Extensions.Hosting).</summary>
internal static class ServeCommand
{
    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static Command Create()
    {
        var volume = new Option<string[]>("--volume") { Description = "A volume: name=NAME,origin=PATH,metadata=PATH,block-size=SECTORS (repeatable; replaces the configured list)", AllowMultipleArgumentsPerToken = false };
        var listen = new Option<string[]>("--listen") { Description = "Serve NBD on HOST:PORT (repeatable; default 127.0.0.1:10809)" };
        var socket = new Option<string>("--socket") { Description = "Also serve NBD on this Unix socket", HelpName = "path" };
        var admin = new Option<string>("--admin-socket") { Description = "Admin socket path (default var/admin.sock)", HelpName = "path" };
        var config = new Option<string>("--config") { Description = "Settings file to use instead of the akka.hocon beside the executable", HelpName = "file" };
        var readOnly = new Option<string[]>("--read-only") { Description = "Export this volume read-only (repeatable)", HelpName = "name" };
        var tlsCert = new Option<string>("--tls-certificate") { Description = "PEM certificate (chain) for NBD TLS", HelpName = "pem" };
        var tlsKey = new Option<string>("--tls-key") { Description = "PEM private key for --tls-certificate", HelpName = "pem" };
        var tlsOptional = new Option<bool>("--tls-optional") { Description = "Offer TLS but also serve clients that do not ask for it (default: TLS required when a certificate is given)" };
        var clusterListen = new Option<string>("--cluster-listen") { Description = "Join a fleet: the HOST:PORT this node's fleet port binds to and announces (none: a single daemon, no port opened)", HelpName = "host:port" };
        var clusterSeed = new Option<string[]>("--cluster-seed") { Description = "A fleet member to join through (repeatable; give every node the same list, in the same order)", HelpName = "host:port" };
        var nodeName = new Option<string>("--node-name") { Description = "This node's name in the fleet (default: its --cluster-listen address)", HelpName = "name" };
        var command = new Command("serve", """
            Serve dm-era volumes over NBD. With no arguments: volume era0 on ./var/era0.origin (1 GiB sparse, created if
            missing) and ./var/era0.meta (created and formatted), 128-sector blocks, NBD on 127.0.0.1:10809, admin socket
            ./var/admin.sock. SIGTERM or SIGINT stops it cleanly: connections finish, every volume's metadata is committed.
            """)
        {
            volume, listen, socket, admin, config, readOnly, tlsCert, tlsKey, tlsOptional, clusterListen, clusterSeed, nodeName,
        };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var hocon = LoadConfig(parse.GetValue(config));
                var settings = ApplyFlags(DaemonSettings.FromConfig(hocon), parse.GetValue(volume), parse.GetValue(listen),
                    parse.GetValue(socket), parse.GetValue(admin), parse.GetValue(readOnly));
                var tls = LoadTls(parse.GetValue(tlsCert), parse.GetValue(tlsKey), !parse.GetValue(tlsOptional));
                var fleet = Fleet.FleetSettings.FromConfig(hocon).WithFlags(parse.GetValue(clusterListen), parse.GetValue(clusterSeed), parse.GetValue(nodeName));
                return await RunAsync(hocon, settings, tls, fleet, ct);
            }
            catch (ConfigurationException e)
            {
                Console.Error.WriteLine($"dmera serve: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    public static Config LoadConfig(string? file)
    {
        var path = file ?? Path.Combine(AppContext.BaseDirectory, "akka.hocon");
        if (!File.Exists(path)) throw new ConfigurationException($"settings file {path} not found");
        try
        {
            var config = ConfigurationFactory.ParseString(File.ReadAllText(path))
                .WithFallback(EngineSettings.DefaultConfig);   // the daemon and NBD blocks fall back where they are read
            EngineSettings.Create(config.GetConfig("dmera.engine"));   // the engine's settings are checked before anything starts
            return config;
        }
        catch (Exception e) when (e is not ConfigurationException)
        {
            throw new ConfigurationException($"settings file {path}: {e.Message}");
        }
    }

    public static DaemonSettings ApplyFlags(DaemonSettings s, string[]? volumes, string[]? listen, string? socket, string? admin, string[]? readOnly)
    {
        if (volumes is { Length: > 0 }) s = s with { Volumes = volumes.Select(VolumeSpec.Parse).ToList() };
        if (listen is { Length: > 0 }) s = s with { Listen = listen.Select(DaemonSettings.ParseEndPoint).ToList() };
        if (socket is not null) s = s with { UnixSocket = socket };
        if (admin is not null) s = s with { AdminSocket = admin };
        if (readOnly is { Length: > 0 })
        {
            var unknown = readOnly.Where(n => s.Volumes.All(v => v.Name != n)).ToList();
            if (unknown.Count > 0) throw new ConfigurationException($"--read-only {string.Join(", ", unknown)}: no such volume");
            s = s with { Volumes = s.Volumes.Select(v => readOnly.Contains(v.Name) ? v with { ReadOnly = true } : v).ToList() };
        }
        return s;
    }

    private static NbdTlsSettings? LoadTls(string? cert, string? key, bool required)
    {
        if (cert is null && key is null) return null;
        if (cert is null || key is null) throw new ConfigurationException("--tls-certificate and --tls-key go together");
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(cert, key);
            // SslStream on Linux wants the key in a PKCS#12-backed certificate.
            return new NbdTlsSettings(X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null), required);
        }
        catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException)
        {
            throw new ConfigurationException($"TLS certificate {cert} / key {key}: {e.Message}");
        }
    }

    private static async Task<int> RunAsync(Config hocon, DaemonSettings settings, NbdTlsSettings? tls, Fleet.FleetSettings fleet, CancellationToken ct)
    {
        // Socket completions run their continuations on the epoll thread instead of hopping to the thread
        // pool. Measured with fio (4k, QD16, Unix socket, 3 alternating rounds): reads +3% to +15% in every
        // round, first-writes unchanged within noise. Safe because nothing on the NBD path blocks for long:
        // commits and origin flushes have threads of their own, origin reads are page-cache hits or go to the
        // thread pool, and the few inline writes are watched by DmEra.Storage.InlineWriteGate.
        // Read once when the socket engine starts, so it must be set before the first socket exists.
        if (Environment.GetEnvironmentVariable(InlineCompletions) is null)
            Environment.SetEnvironmentVariable(InlineCompletions, "1");
        // No defaults: they would read appsettings.json with reload-on-change, which watches the working
        // directory's whole tree with inotify. Run from the directory holding the origin, every write then
        // woke a watcher thread that lstat'ed the file (strace -c -f under fio: about 4,500 lstat and as many
        // geteuid calls a second); run from / or $HOME, it sets a watch on every directory below. dmera's
        // settings are akka.hocon.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [],
            DisableDefaults = true,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Services.AddSystemd();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        // The host logs a service that fails to start or stop with its stack trace; dmera says why in one line
        // itself (below, and in the daemon's own log lines).
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.ShutdownTimeout);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(fleet);
        builder.Services.AddSingleton(NbdSettings.FromConfig(hocon));
        builder.Services.AddSingleton(_ => tls!);
        builder.Services.AddAkka("dmera", akka =>
        {
            akka.AddHocon(hocon, HoconAddMode.Prepend);
            // Not a setting: the Generic Host owns SIGTERM/SIGINT and stops dmera's service (connections
            // drained, every volume archived and committed, which needs the actors) before Akka's, which then
            // runs coordinated shutdown. Akka's own CLR/SIGTERM hook would stop the actors underneath.
            akka.AddHocon("akka.coordinated-shutdown.run-by-clr-shutdown-hook = off", HoconAddMode.Prepend);
            akka.ConfigureLoggers(l =>
            {
                l.LogLevel = Akka.Event.LogLevel.InfoLevel;
                l.ClearLoggers();
                l.AddLoggerFactory();
            });
        });
        builder.Services.AddHostedService<DaemonService>();
        using var host = builder.Build();
        // Resolved now: RunAsync disposes the host's services when it returns.
        var daemon = host.Services.GetServices<IHostedService>().OfType<DaemonService>().Single();
        try
        {
            await host.RunAsync(ct);
        }
        catch (Exception e) when (e is ConfigurationException or IOException or Metadata.MetadataException)
        {
            Console.Error.WriteLine($"dmera serve: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Console.Error.WriteLine($"dmera serve: {e.GetType().Name}: {e.Message}");
            return 1;
        }
        // A volume whose last commit (or origin flush) failed at stop may have lost tracking or data: say which.
        var failures = daemon.StopFailures;
        foreach (var failure in failures) Console.Error.WriteLine($"dmera serve: {failure}");
        return failures.Count == 0 ? 0 : 1;
    }
}
