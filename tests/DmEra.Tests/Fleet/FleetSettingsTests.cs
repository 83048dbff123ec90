using Akka.Configuration;
using DmEra.Fleet;
using ConfigurationException = DmEra.Daemon.ConfigurationException;

namespace DmEra.Tests.Fleet;

public sealed class FleetSettingsTests
{
    private static FleetSettings Of(string fleet) => FleetSettings.FromConfig(ConfigurationFactory.ParseString($"dmera.fleet {{ {fleet} }}"));

    [Fact]
    public void The_shipped_timeouts_are_accepted()
    {
        var s = Of("");
        Assert.True(s.PhaseTimeout * 2 < s.HoldLease);
        Assert.True(s.RequestTimeout > s.PhaseTimeout * 2);
    }

    [Theory]
    [InlineData("hold-lease = 2s, phase-timeout = 1s", "phase-timeout must be under half of hold-lease")]
    [InlineData("hold-lease = 8s, phase-timeout = 3s, request-timeout = 6s", "request-timeout must be over twice phase-timeout")]
    public void Timeouts_that_would_report_a_good_group_as_failed_are_refused_in_one_line(string fleet, string error)
    {
        var e = Assert.Throws<ConfigurationException>(() => Of(fleet));
        Assert.Contains(error, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
