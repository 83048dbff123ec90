using DmEra.Metadata;
using DmEra.Metadata.Era;
using DmEra.Metadata.IntentLog;
using DmEra.Metadata.PersistentData;

namespace DmEra.Tools;

/// <summary>
/// The intent log beside a metadata file (<c>META.log</c>, or <c>--log FILE</c>): after a crash the marks of
/// the last moments may be there and not yet in the metadata. dump and invalidate read the metadata with
/// them replayed (in memory; the files are not written), so they see every mark, as the daemon's next start
/// will: with the current writeset a crash left open, which holds them (from the log, or committed there in
/// the background before the crash), archived under its era (era_dump and era_invalidate read archived
/// writesets and the era array only, and the next start archives it). A metadata snapshot is complete when
/// taken, so it is read as it is.
/// </summary>
internal static class IntentLogInput
{
    public static string? Resolve(string metadataPath, string? logPath)
    {
        if (logPath is not null)
            return File.Exists(logPath) ? logPath : throw new MetadataException($"{logPath}: No such file or directory");
        var beside = metadataPath + ".log";
        return File.Exists(beside) ? beside : null;
    }

    /// <summary>What the log adds to the metadata, or null when there is no log or it adds nothing.</summary>
    public static IntentLogReplayResult? Inspect(MetadataDevice metadata, string? logPath) =>
        logPath is null ? null : Replay(new OverlayMetadataDevice(metadata), logPath, archive: false).Result;

    /// <summary>The metadata as the daemon's next start would see it: <paramref name="metadata"/> itself when that changes nothing.</summary>
    public static MetadataDevice WithLog(MetadataDevice metadata, string? logPath, bool archive = true)
    {
        if (logPath is null) return metadata;
        var overlay = new OverlayMetadataDevice(metadata);
        return Replay(overlay, logPath, archive).Changed ? overlay : metadata;
    }

    private static (IntentLogReplayResult Result, bool Changed) Replay(OverlayMetadataDevice overlay, string logPath, bool archive)
    {
        IntentLogScan scan;
        using (var log = MetadataDevice.Open(logPath, writable: false, DeviceLock.Shared))
            scan = IntentLogScan.Read(log);
        var sb = EraSuperblock.Read(overlay);
        using var md = EraMetadata.Open(overlay, sb.DataBlockSize, mayFormat: false);
        var result = IntentLogReplay.Apply(md, scan);
        // A writeset left open is archived even when the log adds nothing to it: a crash more than a background
        // commit after the last first-write leaves every mark there and none only in the log, and era_invalidate's
        // reading (archived writesets and the era array) would miss them all.
        var open = !md.CurrentWriteset.IsNone;
        if (result.MarksApplied == 0 && !(archive && open)) return (result, false);
        if (archive) md.Archive();
        md.Commit();   // into the overlay only
        return (result, true);
    }
}
