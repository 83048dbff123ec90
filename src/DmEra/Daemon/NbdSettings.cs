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
        long Bytes(string key, long fallback) => c.HasPath(key) ? c.GetLong(key) : fallback;
        int Int(string key, int fallback) => c.HasPath(key) ? c.GetInt(key) : fallback;
        var limits = d with
        {
            MaxPayloadBytes = (int)Bytes("max-payload-bytes", d.MaxPayloadBytes),
            MaxStringBytes = (int)Bytes("max-string-bytes", d.MaxStringBytes),
            MaxOptionBytes = (int)Bytes("max-option-bytes", d.MaxOptionBytes),
            MaxOptionsPerHandshake = Int("max-options-per-handshake", d.MaxOptionsPerHandshake),
            HandshakeTimeout = c.GetTimeSpan("handshake-timeout", d.HandshakeTimeout),
            MaxConnections = Int("max-connections", d.MaxConnections),
            MaxHandshakingConnections = Int("max-handshaking-connections", d.MaxHandshakingConnections),
            MaxInFlightRequests = Int("max-in-flight-requests", d.MaxInFlightRequests),
            MaxBufferedBytesPerConnection = Bytes("max-buffered-bytes-per-connection", d.MaxBufferedBytesPerConnection),
            MaxSkippedWriteBytes = Bytes("max-skipped-write-bytes", d.MaxSkippedWriteBytes),
            MaxSelectedMetaContexts = Int("max-selected-meta-contexts", d.MaxSelectedMetaContexts),
            MaxExtentsPerReply = Int("max-extents-per-reply", d.MaxExtentsPerReply),
            SparseReadMinBytes = Int("sparse-read-min-bytes", d.SparseReadMinBytes),
            ListenBacklog = Int("listen-backlog", d.ListenBacklog),
            StopGrace = c.GetTimeSpan("stop-grace", d.StopGrace),
        };
        limits.Validate();
        return limits;
    }
}
