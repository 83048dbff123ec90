using Akka.Configuration;
using DmEra.Nbd;

namespace DmEra.Daemon;

/// <summary>The NBD server's named limits from the <c>dmera.nbd</c> block (defaults are NbdServerLimits').</summary>
public static class NbdSettings
{
    public static NbdServerLimits FromConfig(Config config)
    {
        var d = new NbdServerLimits();
        var c = config.GetConfig("dmera.nbd");
        if (c is null) return d;
        var limits = d with
        {
            MaxPayloadBytes = (int)(c.GetByteSize("max-payload") ?? d.MaxPayloadBytes),
            MaxStringBytes = (int)(c.GetByteSize("max-string") ?? d.MaxStringBytes),
            MaxOptionBytes = (int)(c.GetByteSize("max-option") ?? d.MaxOptionBytes),
            MaxOptionsPerHandshake = c.GetInt("max-options-per-handshake", d.MaxOptionsPerHandshake),
            HandshakeTimeout = c.GetTimeSpan("handshake-timeout", d.HandshakeTimeout),
            MaxConnections = c.GetInt("max-connections", d.MaxConnections),
            MaxInFlightRequests = c.GetInt("max-in-flight-requests", d.MaxInFlightRequests),
            MaxBufferedBytesPerConnection = c.GetByteSize("max-buffered-bytes-per-connection") ?? d.MaxBufferedBytesPerConnection,
        };
        limits.Validate();
        return limits;
    }
}
