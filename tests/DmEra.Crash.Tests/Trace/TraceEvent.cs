namespace DmEra.Crash.Tests.Trace;

/// <summary>What one entry of the global trace records.</summary>
public enum EventKind
{
    // Storage events: a crash point lies just before each of them.
    MetadataWrite,
    MetadataFlush,
    OriginSubmit,
    OriginComplete,
    OriginFlushSubmit,
    OriginFlushComplete,

    // Client-visible events: they decide what the oracles may demand, but put nothing on a disk.
    RequestIssued,
    RequestReplied,
    EraAcknowledged,
    OriginResized,
}

/// <summary>What an origin operation (or the client request behind it) does to its range.</summary>
public enum OriginOp { Write, Trim, WriteZeroes, Flush, Admin }

/// <summary>
/// One entry of the global trace shared by both devices and the client (SQLite's crash VFS keeps one
/// write-list across files for the same reason: a power cut hits every device at one instant).
/// <see cref="Id"/> names the origin operation or client request; an origin operation carries the id of
/// the client request that caused it (its <see cref="Cause"/>), so a failure names the request.
/// </summary>
public sealed record TraceEvent(long Seq, EventKind Kind)
{
    public long Id { get; init; }
    public long Cause { get; init; } = -1;
    public OriginOp Op { get; init; }
    /// <summary>Metadata block, or origin byte offset; for a metadata flush, the first block of the file it flushes (with <see cref="Length"/> blocks).</summary>
    public long Offset { get; init; }
    public long Length { get; init; }
    /// <summary>Bytes written (metadata block, origin write payload); null for trims, zeroes and flushes.</summary>
    public byte[]? Data { get; init; }
    public bool Fua { get; init; }
    /// <summary>RequestIssued: the era the client had been told had begun; EraAcknowledged: the new era.</summary>
    public uint Era { get; init; }
    /// <summary>RequestReplied: success.</summary>
    public bool Ok { get; init; }
    public string? Note { get; init; }

    public bool IsStorageEvent => Kind <= EventKind.OriginFlushComplete;

    public override string ToString() => Kind switch
    {
        EventKind.MetadataWrite => $"#{Seq} meta write block {Offset}",
        EventKind.MetadataFlush => $"#{Seq} meta flush [{Offset}, +{Length})",
        EventKind.OriginSubmit => $"#{Seq} origin {Op} op{Id} [{Offset}, +{Length}) for request {Cause}",
        EventKind.OriginComplete => $"#{Seq} origin done op{Id}",
        EventKind.OriginFlushSubmit => $"#{Seq} origin flush op{Id} for request {Cause}",
        EventKind.OriginFlushComplete => $"#{Seq} origin flush done op{Id}",
        EventKind.RequestIssued => $"#{Seq} request {Id} {Op}{(Fua ? "+FUA" : "")} [{Offset}, +{Length}) in era {Era} {Note}",
        EventKind.RequestReplied => $"#{Seq} reply {Id} {(Ok ? "ok" : "error")} {Note}",
        EventKind.EraAcknowledged => $"#{Seq} era {Era} acknowledged {Note}",
        EventKind.OriginResized => $"#{Seq} origin resized to {Length}",
        _ => $"#{Seq} {Kind}",
    };
}
