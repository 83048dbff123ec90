using DmEra.Metadata.Era;

namespace DmEra.Metadata.IntentLog;

/// <summary>What a replay did, for the log line at activation and for the tools.</summary>
public sealed record IntentLogReplayResult(int Records, int MarksApplied, int RecordsOfEarlierEras, bool OtherHistory)
{
    public override string ToString() => OtherHistory
        ? "the intent log belongs to another tracking history (metadata reformatted, restored or used by the kernel): its records were ignored"
        : $"intent log: {Records} records, {MarksApplied} marks replayed into the current writeset, {RecordsOfEarlierEras} records of earlier eras or archived already in the metadata";
}

/// <summary>
/// Puts the marks an intent log holds into the metadata's open transaction (durable at the caller's next
/// commit). A record of the current era marks the current writeset; a record of an earlier era (or of the
/// current era once its writeset is archived) is already in the metadata, because every era change and the
/// clean stop's archive commit the marks logged before them; a record of a later era
/// means the metadata is older than its log, which is refused rather than guessed at.
/// </summary>
public static class IntentLogReplay
{
    public static IntentLogReplayResult Apply(EraMetadata md, IntentLogScan scan)
    {
        if (scan.Header is null || scan.Records.Count == 0) return new IntentLogReplayResult(0, 0, 0, false);
        if (!scan.Header.TrackingId.AsSpan().SequenceEqual(md.TrackingId)) return new IntentLogReplayResult(scan.Records.Count, 0, 0, true);
        var applied = 0;
        var earlier = 0;
        var marks = new List<uint>();
        foreach (var r in scan.Records)
        {
            // An earlier era, or the current one already archived (a clean stop archives the writeset after
            // taking every logged mark, then commits): these marks are in the metadata.
            if (r.Era < md.CurrentEra || r.Era == md.CurrentEra && md.CurrentWriteset.IsNone)
            {
                earlier++;
                continue;
            }
            if (r.Era > md.CurrentEra)
                throw new MetadataException(
                    $"intent log record {r.Seq} holds marks of era {r.Era} but the metadata's current era is {md.CurrentEra}"
                    + ": the metadata is older than its log (restored from a copy?); move the log away to start without its marks, which loses their tracking");
            // A writeset recorded at another size (a resize the crash interrupted) keeps the marks it can hold.
            marks.AddRange(r.Blocks.Where(b => b < md.CurrentWriteset.NrBits));
        }
        if (marks.Count > 0)
        {
            var sorted = marks.Distinct().Order().ToArray();
            md.MarkBlocks(sorted);
            applied = sorted.Length;
        }
        return new IntentLogReplayResult(scan.Records.Count, applied, earlier, false);
    }
}
