using Akka.Configuration;
using DmEra.Daemon;
using DmEra.Nbd;

namespace DmEra.Tests.Daemon;

public sealed class NbdSettingsTests
{
    [Fact]
    public void Every_limit_in_the_nbd_block_reaches_the_server()
    {
        var config = ConfigurationFactory.ParseString("""
            dmera.nbd {
              max-payload-bytes = 1048576, max-string-bytes = 512, max-option-bytes = 8192, max-options-per-handshake = 7
              handshake-timeout = 3s, max-connections = 5, max-handshaking-connections = 2, max-in-flight-requests = 9, max-buffered-bytes-per-connection = 2097152
              max-skipped-write-bytes = 4096, max-selected-meta-contexts = 3, max-extents-per-reply = 100, sparse-read-min-bytes = 65536
              listen-backlog = 11, stop-grace = 2s
            }
            """);
        var expected = new NbdServerLimits
        {
            MaxPayloadBytes = 1 << 20, MaxStringBytes = 512, MaxOptionBytes = 8192, MaxOptionsPerHandshake = 7,
            HandshakeTimeout = TimeSpan.FromSeconds(3), MaxConnections = 5, MaxHandshakingConnections = 2, MaxInFlightRequests = 9, MaxBufferedBytesPerConnection = 2 << 20,
            MaxSkippedWriteBytes = 4096, MaxSelectedMetaContexts = 3, MaxExtentsPerReply = 100, SparseReadMinBytes = 65536,
            ListenBacklog = 11, StopGrace = TimeSpan.FromSeconds(2),
        };
        Assert.Equal(expected, NbdSettings.FromConfig(config));
    }

    [Fact]
    public void The_shipped_akka_hocon_gives_the_server_its_defaults()
    {
        var config = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "akka.hocon")));
        Assert.Equal(new NbdServerLimits(), NbdSettings.FromConfig(config));
    }
}
