using DmEra.Crash.Tests.Trace;

namespace DmEra.Crash.Tests.Enumeration;

/// <summary>An origin operation submitted before the crash and not yet covered by a completed flush.</summary>
public sealed record PendingOriginOp(TraceEvent Submit, long CompletedAt)
{
    public bool Completed => CompletedAt != long.MaxValue;
}

/// <summary>
/// The power is cut just before trace entry <see cref="Seq"/>. What is durable is fixed; what is pending
/// (metadata writes since the last metadata flush; origin operations not covered by a completed origin
/// flush, in flight or not) is what a crash state chooses from. The durable arrays belong to the walker
/// and change when it moves on: use a crash point before asking for the next one.
/// </summary>
public sealed class CrashPoint
{
    public required int Index { get; init; }
    public required long Seq { get; init; }
    public required string Before { get; init; }
    public required byte[]?[] MetadataDurable { get; init; }
    public required IReadOnlyList<TraceEvent> MetadataPending { get; init; }
    public required byte[] OriginDurable { get; init; }
    /// <summary>Per origin sector, the client request whose data is durable there; -1 = the initial content.</summary>
    public required long[] OriginProvenance { get; init; }
    public required IReadOnlyList<PendingOriginOp> OriginPending { get; init; }
    public required long OriginSize { get; init; }
    public required ClientHistory Client { get; init; }

    public int PendingCount => MetadataPending.Count + OriginPending.Count;
}
