using DmEra.Crash.Tests.Trace;

namespace DmEra.Crash.Tests.Enumeration;

/// <summary>One client request as the oracles see it.</summary>
public sealed class ClientRequest
{
    public required long Id { get; init; }
    public required OriginOp Op { get; init; }
    public required long Offset { get; init; }
    public required long Length { get; init; }
    public required bool Fua { get; init; }
    /// <summary>The era the client had been told had begun when it sent the request.</summary>
    public required uint Era { get; init; }
    public required long IssuedAt { get; init; }
    public long RepliedAt { get; set; } = long.MaxValue;
    public bool Ok { get; set; }
    public string? Note { get; init; }

    public bool RepliedOkBefore(long seq) => Ok && RepliedAt < seq;
}

/// <summary>
/// The client's side of the trace up to a crash point: requests, replies, acknowledged eras. Built
/// incrementally while walking the trace, so a crash point sees only what happened before it.
/// </summary>
public sealed class ClientHistory
{
    private readonly Dictionary<long, ClientRequest> _requests = new();
    private readonly List<ClientRequest> _dataRequests = new();
    private readonly List<ClientRequest> _flushes = new();

    public IReadOnlyDictionary<long, ClientRequest> Requests => _requests;
    /// <summary>Writes, trims and zeroings in issue order.</summary>
    public IReadOnlyList<ClientRequest> DataRequests => _dataRequests;
    public IReadOnlyList<ClientRequest> Flushes => _flushes;
    public uint LastAckedEra { get; private set; }
    /// <summary>Origin resizes as (trace position, new size in bytes).</summary>
    public List<(long Seq, long Size)> Resizes { get; } = new();

    /// <summary>
    /// Whether a shrink after <paramref name="since"/> cut off the byte at <paramref name="offset"/>. Such a
    /// block left the volume: like the kernel, the metadata forgets it, and if the origin grows again it
    /// comes back as never written (a backup tool must treat blocks beyond the size it last saw as new).
    /// </summary>
    public bool CutOffSince(long since, long offset) => Resizes.Any(r => r.Seq > since && r.Size <= offset);

    public void Apply(TraceEvent e)
    {
        switch (e.Kind)
        {
            case EventKind.RequestIssued:
                var r = new ClientRequest
                {
                    Id = e.Id, Op = e.Op, Offset = e.Offset, Length = e.Length, Fua = e.Fua, Era = e.Era, IssuedAt = e.Seq, Note = e.Note,
                };
                _requests[e.Id] = r;
                if (e.Op is OriginOp.Write or OriginOp.Trim or OriginOp.WriteZeroes) _dataRequests.Add(r);
                else if (e.Op == OriginOp.Flush) _flushes.Add(r);
                break;
            case EventKind.RequestReplied:
                var req = _requests[e.Id];
                req.RepliedAt = e.Seq;
                req.Ok = e.Ok;
                break;
            case EventKind.OriginResized:
                Resizes.Add((e.Seq, e.Length));
                break;
            case EventKind.EraAcknowledged:
                LastAckedEra = Math.Max(LastAckedEra, e.Era);
                break;
        }
    }

    /// <summary>
    /// Whether a data request is durable at the crash point: replied ok with FUA, or replied ok before a
    /// FLUSH was sent that was itself replied ok before the crash (the NBD contract).
    /// </summary>
    public bool IsDurable(ClientRequest r, long crashSeq)
    {
        if (!r.RepliedOkBefore(crashSeq)) return false;
        if (r.Fua) return true;
        foreach (var f in _flushes)
            if (f.IssuedAt > r.RepliedAt && f.RepliedOkBefore(crashSeq)) return true;
        return false;
    }
}
