using DmEra.Crash.Tests.Enumeration;
using DmEra.Crash.Tests.Trace;

namespace DmEra.Crash.Tests.Oracles;

/// <summary>
/// Oracle (a), the NBD durability contract: a write replied to before a FLUSH that completed, or replied
/// to with FUA, is intact after the crash. Per sector: if a durable write covers it, its content must
/// come from a write not known to be older than every durable one (the durable write itself, or one that
/// overlapped or followed it); never from the initial content. A trim not yet overwritten leaves the
/// sector unspecified (NBD: the client may assume nothing until it writes), so such sectors are skipped.
/// The allowed sets depend only on the crash point, so they are computed once per point.
/// </summary>
public sealed class DurabilityOracle
{
    private const int Sector = CrashPointWalker.SectorSize;
    private readonly HashSet<long>?[] _allowed;

    public DurabilityOracle(CrashPoint point)
    {
        var sectors = (int)(point.OriginSize / Sector);
        _allowed = new HashSet<long>?[sectors];
        var touching = new List<ClientRequest>[sectors];
        foreach (var r in point.Client.DataRequests)
        {
            if (r.Length <= 0) continue;
            for (var s = r.Offset / Sector; s <= (r.Offset + r.Length - 1) / Sector && s < sectors; s++)
                (touching[s] ??= new()).Add(r);
        }
        for (var s = 0; s < sectors; s++)
        {
            if (touching[s] is not { } list) continue;
            var durable = list.Where(r => point.Client.IsDurable(r, point.Seq)).ToList();
            if (durable.Count == 0) continue;
            var live = list.Where(r => !durable.Any(d => r.RepliedAt < d.IssuedAt)).ToList();
            if (live.Any(r => r.Op == OriginOp.Trim)) continue;
            _allowed[s] = live.Select(r => r.Id).ToHashSet();
        }
    }

    public IEnumerable<string> Check(CrashImage image)
    {
        for (var s = 0; s < _allowed.Length; s++)
        {
            if (_allowed[s] is not { } allowed || allowed.Contains(image.Provenance[s])) continue;
            var from = image.Provenance[s] < 0 ? "the initial content" : $"request {image.Provenance[s]}";
            yield return $"(a) origin sector {s} holds {from}, but durable requests leave only {{{string.Join(", ", allowed)}}} possible there";
        }
    }
}
