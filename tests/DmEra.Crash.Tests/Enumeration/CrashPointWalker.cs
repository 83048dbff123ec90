using DmEra.Crash.Tests.Recording;
using DmEra.Crash.Tests.Trace;

namespace DmEra.Crash.Tests.Enumeration;

/// <summary>
/// Walks a recorded trace once, keeping the durable images up to date incrementally, and yields a crash
/// point just before every storage event and one at the end (CrashMonkey's persistence points are a
/// subset; enumeration is offline and cheap, so every boundary is used). Durability follows the block
/// layer's contract: a metadata flush makes every earlier write to its file (the metadata or the intent log) durable; an origin flush makes
/// durable the origin operations that had completed before it was submitted, once it completes.
/// </summary>
public static class CrashPointWalker
{
    public const int SectorSize = 512;

    public static IEnumerable<CrashPoint> Walk(RecordedWorkload w)
    {
        var metaDurable = (byte[]?[])w.InitialMetadata.Clone();
        var metaPending = new List<TraceEvent>();
        var origin = (byte[])w.InitialOrigin.Clone();
        var provenance = new long[origin.Length / SectorSize];
        Array.Fill(provenance, -1L);
        var originPending = new List<PendingOriginOp>();
        var flushSubmits = new Dictionary<long, long>();
        var client = new ClientHistory();
        var size = w.InitialOriginSize;
        var index = 0;

        foreach (var e in w.Events)
        {
            if (e.IsStorageEvent)
                yield return Point(index++, e.Seq, e.ToString());
            switch (e.Kind)
            {
                case EventKind.MetadataWrite:
                    metaPending.Add(e);
                    break;
                case EventKind.MetadataFlush:
                    // One file's fdatasync (the metadata's or the intent log's): only its own writes become durable.
                    var flushed = e;
                    Predicate<TraceEvent> covered = w => flushed.Length == 0 || w.Offset >= flushed.Offset && w.Offset < flushed.Offset + flushed.Length;
                    foreach (var write in metaPending.FindAll(covered)) metaDurable[write.Offset] = write.Data;
                    metaPending.RemoveAll(covered);
                    break;
                case EventKind.OriginSubmit:
                    originPending.Add(new PendingOriginOp(e, long.MaxValue));
                    break;
                case EventKind.OriginComplete:
                    var i = originPending.FindIndex(p => p.Submit.Id == e.Id);
                    originPending[i] = originPending[i] with { CompletedAt = e.Seq };
                    break;
                case EventKind.OriginFlushSubmit:
                    flushSubmits[e.Id] = e.Seq;
                    break;
                case EventKind.OriginFlushComplete:
                    var barrier = flushSubmits[e.Id];
                    var durable = originPending.Where(p => p.CompletedAt < barrier).OrderBy(p => p.CompletedAt).ToList();
                    foreach (var p in durable) Apply(origin, provenance, p.Submit, _ => true);
                    originPending.RemoveAll(p => p.CompletedAt < barrier);
                    break;
                case EventKind.OriginResized:
                    size = e.Length;
                    client.Apply(e);
                    break;
                default:
                    client.Apply(e);
                    break;
            }
        }
        yield return Point(index, w.Events.Count, "the end of the workload");

        CrashPoint Point(int i, long seq, string before) => new()
        {
            Index = i, Seq = seq, Before = before, MetadataDurable = metaDurable, MetadataPending = metaPending.ToArray(),
            OriginDurable = origin, OriginProvenance = provenance, OriginPending = originPending.ToArray(),
            OriginSize = size, Client = client,
        };
    }

    /// <summary>Applies an origin operation's sectors for which <paramref name="keep"/> (sector index within the op) says so.</summary>
    public static void Apply(byte[] image, long[] provenance, TraceEvent op, Func<int, bool> keep)
    {
        var first = (int)(op.Offset / SectorSize);
        var last = (int)((op.Offset + op.Length - 1) / SectorSize);
        for (var s = first; s <= last; s++)
        {
            if (!keep(s - first)) continue;
            // Sector granularity: a partial-sector write is all-or-nothing within its sector (PSOW: bytes
            // outside the written range never change).
            var from = Math.Max(op.Offset, (long)s * SectorSize);
            var to = Math.Min(op.Offset + op.Length, (long)(s + 1) * SectorSize);
            var target = image.AsSpan((int)from, (int)(to - from));
            if (op.Data is null) target.Clear();
            else op.Data.AsSpan((int)(from - op.Offset), (int)(to - from)).CopyTo(target);
            provenance[s] = op.Cause;
        }
    }
}
