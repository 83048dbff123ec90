using System.Text.RegularExpressions;
using Akka.Configuration;
using DmEra.Daemon;
using DmEra.Engine;
using DmEra.Storage;

namespace DmEra.Tests.Daemon;

/// <summary>
/// The stop timeouts nest (akka.hocon, dmera.daemon.shutdown-timeout): each layer finishes or gives up before
/// the one outside it kills it. Checked on the shipped files, so a change to one of them cannot break the order.
/// </summary>
public sealed class StopTimeoutOrderingTests
{
    private static readonly string Root = RepositoryRoot();

    [Fact]
    public void Engine_stop_and_nbd_grace_end_before_the_host_shutdown_timeout_which_ends_before_systemd_kills()
    {
        var hocon = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(Root, "akka.hocon")));
        var engineStop = EngineSettings.Create(hocon.GetConfig("dmera.engine")).StopTimeout;
        var nbdGrace = NbdSettings.FromConfig(hocon).StopGrace;
        var hostShutdown = DaemonSettings.FromConfig(hocon).ShutdownTimeout;
        var systemdStop = TimeoutStopSec(File.ReadAllText(Path.Combine(Root, "docs", "dmera.service")));

        Assert.True(nbdGrace + engineStop < hostShutdown,
            $"NBD stop-grace {nbdGrace} + engine stop-timeout {engineStop} must end before the host's shutdown-timeout {hostShutdown}");
        Assert.True(hostShutdown < systemdStop,
            $"host shutdown-timeout {hostShutdown} must end before the systemd unit's TimeoutStopSec {systemdStop}");
    }

    [Fact]
    public void Akka_s_service_stop_phase_outlasts_the_engine_stop()
    {
        var hocon = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(Root, "akka.hocon")));
        Assert.True(hocon.GetTimeSpan("akka.coordinated-shutdown.phases.service-stop.timeout")
            > EngineSettings.Create(hocon.GetConfig("dmera.engine")).StopTimeout);
    }

    [Fact]
    public void The_shipped_akka_hocon_gives_the_host_and_the_origin_their_defaults()
    {
        var s = DaemonSettings.FromConfig(ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(Root, "akka.hocon"))));
        var d = new DaemonSettings();
        Assert.Equal((d.AdminCommandTimeout, d.AdminListenBacklog, d.ShutdownTimeout, d.HealthInterval, d.MetadataWarnFraction),
            (s.AdminCommandTimeout, s.AdminListenBacklog, s.ShutdownTimeout, s.HealthInterval, s.MetadataWarnFraction));
        Assert.Equal(new InlineWriteSettings(), s.InlineWrites);
    }

    [Fact]
    public void A_settings_file_without_the_timeouts_gets_the_shipped_ones()
    {
        var s = DaemonSettings.FromConfig(ConfigurationFactory.ParseString("dmera.daemon { admin-command-timeout = 5s }"));
        Assert.Equal(TimeSpan.FromSeconds(5), s.AdminCommandTimeout);
        Assert.Equal(TimeSpan.FromSeconds(180), s.ShutdownTimeout);
        Assert.Equal(1 << 20, s.InlineWrites.MaxBytes);
    }

    private static TimeSpan TimeoutStopSec(string unit)
    {
        var m = Regex.Match(unit, @"^TimeoutStopSec=(\d+)\s*$", RegexOptions.Multiline);
        Assert.True(m.Success, "docs/dmera.service has no TimeoutStopSec=<seconds> line");
        return TimeSpan.FromSeconds(int.Parse(m.Groups[1].Value));
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "DmEra.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root (DmEra.sln) not found above the test binaries");
    }
}
