namespace DmEra.Nbd;

/// <summary>
/// Every bound the server puts on a client. Defaults equal the <c>dmera.nbd</c> block of akka.hocon; each
/// exists so that no client behaviour makes the server allocate, wait or work without bound
/// (crash-testing.md §4).
/// </summary>
public sealed record NbdServerLimits
{
    /// <summary>
    /// Largest READ or WRITE payload (advertised as the maximum block size). 32 MiB is the spec's
    /// interoperable maximum and qemu's NBD_MAX_BUFFER_SIZE; larger requests get EINVAL.
    /// </summary>
    public int MaxPayloadBytes { get; init; } = 32 * 1024 * 1024;

    /// <summary>Longest string (export name, context name, query): the spec's MUST limit of 4096 bytes.</summary>
    public int MaxStringBytes { get; init; } = 4096;

    /// <summary>
    /// Largest option payload read during the handshake. A SET_META_CONTEXT may carry several names of up to
    /// 4096 bytes, so 64 KiB; anything bigger gets ERR_TOO_BIG and the connection is closed instead of
    /// draining it (CVE-2017-15119 taught that draining huge options is a DoS).
    /// </summary>
    public int MaxOptionBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// Options one handshake may send before the server gives up on it (nbdkit uses 32). Real clients send
    /// under 10, nbdinfo --list a few per export; 256 leaves room for catalogs of dozens of exports.
    /// </summary>
    public int MaxOptionsPerHandshake { get; init; } = 256;

    /// <summary>Time from accept to the end of the handshake; slow or silent clients are dropped (qemu's 10 s, CVE-2024-7409).</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Connections served at once; further ones are closed at accept (qemu caps at 100, CVE-2024-7409).</summary>
    public int MaxConnections { get; init; } = 100;

    /// <summary>
    /// Connections still in the handshake at once, a budget of their own inside <see cref="MaxConnections"/> (keep
    /// it below that).
    /// When it is full, a new connection closes the one that has waited longest in the handshake: a real
    /// client finishes its handshake in milliseconds, so idle sockets can only ever delay it, never lock it
    /// out (with one shared budget, 100 idle sockets refused every client until the handshake timeout; qemu-nbd
    /// has that weakness).
    /// </summary>
    public int MaxHandshakingConnections { get; init; } = 16;

    /// <summary>
    /// Requests of one connection being worked on at once; the server stops reading the socket at this many
    /// (back-pressure). nbdcopy keeps 64 in flight per connection.
    /// </summary>
    public int MaxInFlightRequests { get; init; } = 64;

    /// <summary>
    /// Payload bytes (write data read, read data not yet sent) one connection may hold; further requests wait
    /// for replies to drain. A single request up to <see cref="MaxPayloadBytes"/> is always admitted when
    /// nothing else is buffered, so this caps memory per connection at about max(this, MaxPayloadBytes).
    /// </summary>
    public long MaxBufferedBytesPerConnection { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// An oversize WRITE's payload is skipped (to keep the stream in sync and answer EINVAL) only up to this
    /// many bytes; beyond it the connection is closed, as nbdkit does at 2× its maximum.
    /// </summary>
    public long MaxSkippedWriteBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Contexts one SET_META_CONTEXT may select: each costs a backend query per BLOCK_STATUS.</summary>
    public int MaxSelectedMetaContexts { get; init; } = 16;

    /// <summary>Extents in one block-status chunk; the spec says SHOULD be ≤ 2^20, qemu's client caps at 128 Ki.</summary>
    public int MaxExtentsPerReply { get; init; } = 128 * 1024;

    /// <summary>
    /// Structured reads at least this long are scanned for all-zero 64 KiB runs, which go out as OFFSET_HOLE
    /// chunks; shorter reads are sent as data because chunk headers and the scan would outweigh the savings.
    /// </summary>
    public int SparseReadMinBytes { get; init; } = 256 * 1024;

    /// <summary>
    /// Connections the kernel queues before accept (listen(2)'s backlog): a burst of clients connecting at once
    /// (nbdcopy opens several) is queued, not refused; the kernel caps it at net.core.somaxconn.
    /// </summary>
    public int ListenBacklog { get; init; } = 128;

    /// <summary>How long stopping lets requests in flight finish before cancelling them.</summary>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Checks the values are usable; throws <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        static void Require(bool ok, string name) { if (!ok) throw new ArgumentException($"NBD limit {name} is out of range"); }
        Require(MaxPayloadBytes >= 4096 && MaxPayloadBytes <= 1 << 30, nameof(MaxPayloadBytes));
        Require(MaxStringBytes >= 256 && MaxStringBytes <= MaxOptionBytes, nameof(MaxStringBytes));
        Require(MaxOptionBytes >= 1024, nameof(MaxOptionBytes));
        Require(MaxOptionsPerHandshake >= 4, nameof(MaxOptionsPerHandshake));
        Require(HandshakeTimeout > TimeSpan.Zero, nameof(HandshakeTimeout));
        Require(MaxConnections >= 1, nameof(MaxConnections));
        Require(MaxHandshakingConnections >= 1, nameof(MaxHandshakingConnections));
        Require(MaxInFlightRequests >= 1, nameof(MaxInFlightRequests));
        Require(MaxBufferedBytesPerConnection >= 4096, nameof(MaxBufferedBytesPerConnection));
        Require(MaxSkippedWriteBytes >= 0, nameof(MaxSkippedWriteBytes));
        Require(MaxSelectedMetaContexts >= 1, nameof(MaxSelectedMetaContexts));
        Require(MaxExtentsPerReply >= 1 && MaxExtentsPerReply <= 1 << 20, nameof(MaxExtentsPerReply));
        Require(SparseReadMinBytes >= 4096, nameof(SparseReadMinBytes));
        Require(ListenBacklog >= 1, nameof(ListenBacklog));
        Require(StopGrace >= TimeSpan.Zero, nameof(StopGrace));
    }
}
