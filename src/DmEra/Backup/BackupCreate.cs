using System.Diagnostics;
using System.Text.RegularExpressions;
using DmEra.Tools;

namespace DmEra.Backup;

/// <summary>What <c>backup create</c> did, for the summary line and <c>--json</c>.</summary>
public sealed record CreateSummary(BackupPoint Point, string? FullReason, double Seconds, string? Warning);

/// <summary>
/// <c>dmera backup create</c>: decide full or incremental, take a view, copy it into the next point,
/// record the point, end the view. The manifest changes only after the point's file is complete and
/// synced, so an interrupted create leaves the chain as it was (and a partial file the next one removes).
/// </summary>
public sealed partial class BackupCreate(VolumeAdmin admin, string uri, int connections = 4)
{
    public const string PartialSuffix = ".partial";

    /// <summary>Called once the view is held, before the copy starts (tests write over the volume here).</summary>
    internal Action<ViewInfo>? OnViewTaken { get; init; }

    public CreateSummary Run(string volume, string dir, bool forceFull, bool quiet, Action<string> say, CancellationToken ct)
    {
        if (volume.Length == 0 || volume.Contains('@') || volume.Contains('/'))
            throw new BackupException($"'{volume}' is not a volume name");
        if (File.Exists(dir)) throw new BackupException($"{dir} is a file, not a directory: give a directory for the chain (created when missing)");
        // The directories this create makes: a create that fails removes them again (when nothing was left in them).
        var made = new List<string>();
        for (var d = Path.GetFullPath(dir); !Directory.Exists(d) && !File.Exists(d); d = Path.GetDirectoryName(d)!) made.Add(d);
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BackupException($"cannot create the chain's directory {dir}: {e.Message}", e);
        }
        try
        {
            return RunIn(volume, dir, forceFull, quiet, say, ct);
        }
        catch
        {
            foreach (var d in made)
            {
                try { Directory.Delete(d); }
                catch (IOException) { break; }    // not empty (a marker a lost take_backup_snap answer left): kept
            }
            throw;
        }
    }

    private CreateSummary RunIn(string volume, string dir, bool forceFull, bool quiet, Action<string> say, CancellationToken ct)
    {
        LoadChain(volume, dir);    // a directory that is no chain of this volume is refused before the daemon is asked anything
        if (ViewLease.RecoverInterrupted(admin, dir) is { } recovered) say(recovered);

        var clock = Stopwatch.StartNew();
        var status = admin.Status(volume, ct);
        using var lease = ViewLease.Claim(admin, volume, dir, status.CurrentEra);
        // Read again under the claim: a create that ran meanwhile may have added a point.
        var manifest = LoadChain(volume, dir);
        foreach (var partial in Directory.EnumerateFiles(dir, "*" + PartialSuffix)) File.Delete(partial);
        var decision = ChainDecision.For(manifest.Last, status, forceFull);
        if (!decision.Full && ChainProblem(dir, manifest, ct) is { } broken)
            decision = new ChainDecision(true, null, $"the chain an incremental would extend is damaged ({broken}; 'dmera backup verify' lists every problem)");
        if (decision.Reason is { } why) say($"full backup: {why}");

        lease.Take(decision.SinceEra, ct);
        BackupPoint point;
        try
        {
            point = CopyPoint(volume, dir, manifest, status, decision, lease.View, quiet, ct);
        }
        catch (BackupException e) when (WhyTheCopyFailed(volume, e) is { } meaning)
        {
            throw new BackupException(meaning, e);
        }
        finally
        {
            lease.EndView();
        }
        // Recorded before the claim ends, so the next create reads a manifest with this point.
        manifest.With(point).Save(dir);
        var warning = lease.DropFailure is { } f ? $"the view could not be dropped ({f}); the next create ends it" : null;
        return new CreateSummary(point, decision.Reason, clock.Elapsed.TotalSeconds, warning);
    }

    /// <summary>The directory's chain of <paramref name="volume"/> (a new one when the directory holds none), or why it is none.</summary>
    private static BackupManifest LoadChain(string volume, string dir)
    {
        var manifest = BackupManifest.TryLoad(dir);
        if (manifest is null && Directory.EnumerateFileSystemEntries(dir).Any(e => !IsOurLeftover(e)))
            throw new BackupException($"{dir} is not empty and holds no backup chain ({BackupManifest.FileName}): give an empty or new directory");
        manifest ??= new BackupManifest { Volume = volume };
        if (manifest.Volume != volume)
            throw new BackupException($"{dir} holds the backups of volume {manifest.Volume}, not {volume}");
        return manifest;
    }

    /// <summary>
    /// The first problem of the points an incremental would stand on (missing, not qcow2, another size or
    /// backing file), or null. Headers only: a checksum of a whole chain on every create would read it all.
    /// </summary>
    private static string? ChainProblem(string dir, BackupManifest manifest, CancellationToken ct) =>
        BackupVerify.Check(dir, manifest.ChainTo(manifest.Points.Count - 1), withChecksums: false, progress: null, ct) is [var first, ..]
            ? first
            : null;

    private BackupPoint CopyPoint(string volume, string dir, BackupManifest manifest, VolumeStatus status, ChainDecision decision,
        ViewInfo view, bool quiet, CancellationToken ct)
    {
        if (!decision.Full && view.Bitmap is null)
            throw new BackupException($"take_backup_snap {decision.SinceEra} answered without a dirty bitmap");
        // The identity at the view's instant: a reset between status and take would show here.
        var after = admin.Status(volume, ct);
        if (after.TrackingId != status.TrackingId)
            throw new BackupException($"volume {volume}'s tracking history changed while the backup started; run create again");
        OnViewTaken?.Invoke(view);
        var viewUri = NbdUri.WithExport(uri, view.Export);
        var dirty = decision.Full ? null : view.Bitmap;
        using var primary = ConnectView(viewUri, dirty, volume, status.TrackingId, view.Era);
        if (primary.Size != status.SizeBytes)
            throw new BackupException($"{view.Export} is {primary.Size} bytes, volume {volume} {status.SizeBytes}");

        var n = manifest.Points.Count;
        var kind = decision.Full ? BackupManifest.Full : BackupManifest.Incremental;
        var file = $"{volume}.{n:D4}.{kind}.qcow2";
        var path = Path.Combine(dir, file);
        var partial = path + PartialSuffix;
        var clusterBits = Qcow2Layout.ClusterBitsFor(status.BlockSizeSectors * 512L);
        var backing = decision.Full ? null : manifest.Last!.File;
        try
        {
            CopyResult copied;
            string sum;
            using (var progress = TerminalProgress.Start($"point {n} ({kind})", primary.Size, quiet, bytes: true))
            using (var writer = new Qcow2PointWriter(partial, primary.Size, clusterBits, backing))
            {
                copied = new PointCopier(viewUri, connections).Copy(primary, dirty, writer, progress, ct);
                writer.Finish();
                sum = writer.Checksum!;
            }
            File.Move(partial, path);
            DirectorySync.Sync(dir);
            return new BackupPoint
            {
                Point = n,
                File = file,
                Kind = kind,
                Era = view.Era,
                SinceEra = decision.SinceEra,
                Bytes = copied.BytesCopied,
                TrackingId = status.TrackingId,
                SizeBytes = status.SizeBytes,
                ClusterSize = 1 << clusterBits,
                Backing = backing,
                Checksum = sum,
                Created = DateTimeOffset.UtcNow,
            };
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    /// <summary>
    /// The first connection to the view, once its description shows it is the view just taken (this volume's
    /// tracking id, the view's era): --uri naming another daemon or another NBD server would otherwise back up
    /// whatever it serves under the view's name. Failing, the error says which URI was tried and where it came from.
    /// </summary>
    private NbdConnection ConnectView(string viewUri, string? dirty, string volume, string trackingId, uint era)
    {
        NbdConnection c;
        try
        {
            c = PointCopier.Open(viewUri, dirty);
        }
        catch (BackupException e)
        {
            var why = e.Message.StartsWith(viewUri + ": ", StringComparison.Ordinal) ? e.Message[(viewUri.Length + 2)..] : e.Message;
            throw new BackupException($"cannot read the view at {viewUri} ({UriSource()}): {why}; {UriHint}", e);
        }
        try
        {
            if (ViewIn(c.Description) is not { } found || found.TrackingId != trackingId || found.Era != era)
            {
                var what = string.IsNullOrEmpty(c.Description) ? "gives no description" : $"describes \"{Printable(c.Description)}\"";
                throw new BackupException(
                    $"{viewUri} ({UriSource()}) is not the view of {volume} just taken: it {what}, not era {era} of tracking id {trackingId}; {UriHint}");
            }
            PointCopier.RequireContext(c, dirty);
            return c;
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }

    private const string UriHint = "give --uri as 'dmera serve' listens (nbd://HOST:PORT/ for --listen, nbd+unix:///?socket=PATH for --socket)";

    private string UriSource() => uri == BackupCommands.DefaultUri ? $"the default --uri {uri}" : $"--uri {uri}";

    /// <summary>A server's text fit for a one-line error: control characters replaced, at most 200 characters.</summary>
    private static string Printable(string text)
    {
        var clean = new string(text.Select(ch => char.IsControl(ch) ? '?' : ch).ToArray());
        return clean.Length <= 200 ? clean : clean[..200] + "...";
    }

    /// <summary>
    /// What the NBD error of a failed copy meant, when the daemon can tell: the view's readers only get EIO
    /// (its saved copy filled up, its disk failed), and a daemon that stopped only resets the connections.
    /// </summary>
    private string? WhyTheCopyFailed(string volume, BackupException e)
    {
        try
        {
            return admin.Status(volume).ViewBroken is { } reason ? $"the backup view broke: {reason}" : null;
        }
        catch (IOException)
        {
            var nbd = e.Message.LastIndexOf(": nbd_", StringComparison.Ordinal) is var at and >= 0 ? e.Message[(at + 2)..] : e.Message;
            return $"the daemon stopped during the backup ({nbd}); the chain is as it was: run create again once it serves";
        }
        catch (BackupException)
        {
            return null;
        }
    }

    /// <summary>The era and tracking id a view export's description carries (<c>... at era E, tracking id HEX</c>), or null.</summary>
    internal static (uint Era, string TrackingId)? ViewIn(string? description) =>
        description is not null && ViewPattern().Match(description) is { Success: true } m && uint.TryParse(m.Groups[1].ValueSpan, out var era)
            ? (era, m.Groups[2].Value)
            : null;

    [GeneratedRegex(@" at era (\d+), tracking id ([0-9a-f]{32})\z")]
    private static partial Regex ViewPattern();

    private static bool IsOurLeftover(string entry)
    {
        var name = Path.GetFileName(entry);
        return name.StartsWith(ViewLease.MarkerName, StringComparison.Ordinal) || name.EndsWith(PartialSuffix, StringComparison.Ordinal);
    }
}
