using System.Text.Json;
using Mono.Unix.Native;

namespace DmEra.Backup;

/// <summary>
/// A create's hold on its chain's directory and on the backup view it takes, ended whatever happens:
/// <see cref="Dispose"/> drops the view and removes the marker on success, error or cancellation (Ctrl-C,
/// SIGTERM). <see cref="Claim"/> creates the marker (<see cref="MarkerName"/>) exclusively, so only one create
/// works in a directory at a time; a client killed with SIGKILL cannot drop its view, so the marker records
/// enough for the next <c>create</c> to tell that view from someone else's, drop it and start clean.
/// </summary>
public sealed class ViewLease : IDisposable
{
    public const string MarkerName = ".backup-in-progress.json";
    private readonly VolumeAdmin _admin;
    private readonly string _volume;
    private readonly string _marker;
    private readonly uint _eraBeforeTake;
    private ViewInfo? _view;
    private bool _viewEnded;
    private bool _keepMarker;
    private bool _disposed;

    private ViewLease(VolumeAdmin admin, string volume, string marker, uint eraBeforeTake)
    {
        _admin = admin;
        _volume = volume;
        _marker = marker;
        _eraBeforeTake = eraBeforeTake;
    }

    public ViewInfo View => _view ?? throw new InvalidOperationException("no view taken");

    /// <summary>Why the view could not be dropped (the daemon went away), or null.</summary>
    public string? DropFailure { get; private set; }

    /// <param name="Era">The view's era, once the take answered.</param>
    /// <param name="EraBeforeTake">
    /// The volume's current era, read before the take: a take's view has the era current at the take, so a held
    /// view of an earlier era existed before this marker and is not this backup's. Null in markers of older versions.
    /// </param>
    private sealed record Marker(string Volume, int Pid, uint? Era, uint? EraBeforeTake = null);

    /// <summary>
    /// Claims <paramref name="dir"/> for one create: writes the marker, refusing when another create holds it.
    /// <paramref name="currentEra"/> is the volume's current era, read before the take this lease will make.
    /// </summary>
    public static ViewLease Claim(VolumeAdmin admin, string volume, string dir, uint currentEra)
    {
        var marker = Path.Combine(dir, MarkerName);
        var json = JsonSerializer.Serialize(new Marker(volume, Environment.ProcessId, null, currentEra), BackupManifest.Json);
        // Written whole under a name of our own, then linked to the marker's name: link(2) fails if the name
        // exists, so of two creates started at once exactly one gets the marker, and never a half-written one.
        var tmp = TempName(marker);
        try
        {
            File.WriteAllText(tmp, json);
            if (Syscall.link(tmp, marker) != 0)
            {
                var errno = Stdlib.GetLastError();
                if (errno != Errno.EEXIST) throw new BackupException($"cannot create {marker}: {Stdlib.strerror(errno)}");
                var pid = TryRead(marker)?.Pid;
                throw new BackupException($"another dmera backup{(pid is { } p ? $" (pid {p})" : "")} is running on {dir}");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BackupException($"cannot create {marker}: {e.Message}", e);
        }
        finally
        {
            File.Delete(tmp);
        }
        return new ViewLease(admin, volume, marker, currentEra);
    }

    /// <summary>Takes the view (<c>take_backup_snap</c>) and records its era in the marker.</summary>
    public ViewInfo Take(uint? sinceEra, CancellationToken ct)
    {
        try
        {
            _view = _admin.TakeView(_volume, sinceEra, ct);
        }
        catch
        {
            // Refused or unreachable: no view of ours is held. Cancelled, the daemon may have taken it without
            // answering: the marker (no era, the era before the take) stays for the next create to clean up.
            _keepMarker = ct.IsCancellationRequested;
            throw;
        }
        Replace(_marker, new Marker(_volume, Environment.ProcessId, _view.Era, _eraBeforeTake));
        return _view;
    }

    /// <summary>
    /// Ends a view an earlier create left held (killed with SIGKILL, or the daemon unreachable at its end):
    /// the one its marker names, when its process is gone. Returns what it did, or null when nothing was left.
    /// A held view the marker cannot be sure is that backup's is left alone, and the create refused.
    /// </summary>
    public static string? RecoverInterrupted(VolumeAdmin admin, string dir)
    {
        var path = Path.Combine(dir, MarkerName);
        if (!File.Exists(path)) return null;
        var m = TryRead(path);
        if (m is null)
        {
            File.Delete(path);
            return null;
        }
        if (m.Pid != Environment.ProcessId && IsAlive(m.Pid))
            throw new BackupException($"another dmera backup (pid {m.Pid}) is running on {dir}");
        var status = admin.Status(m.Volume);
        string? what = null;
        if (status.ViewEra is { } era)
        {
            // Died before learning its view's era: the view is that backup's only if its era is not older than the
            // era before its take; an older marker, without that era, cannot tell, and another reader's view must
            // not be dropped under it. The marker stays until the view is gone.
            if (m.Era is null && (m.EraBeforeTake is not { } before || era < before))
                throw new BackupException(
                    $"volume {m.Volume} holds a backup view (era {era}) not taken by the backup interrupted in {dir}: " +
                    $"drop it with 'dmera message {m.Volume} drop_backup_snap' if it is stale");
            // Drop only the view that backup took (same era, or taken since its marker).
            if (m.Era is null || m.Era == era)
            {
                admin.DropView(m.Volume);
                what = $"dropped the view (era {era}) an interrupted backup left held on {m.Volume}";
            }
        }
        File.Delete(path);
        return what;
    }

    private static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}");

    private static Marker? TryRead(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<Marker>(File.ReadAllText(path), BackupManifest.Json);
        }
        catch (Exception e) when (e is JsonException or FileNotFoundException)
        {
            return null;
        }
    }

    /// <summary>A name of this process's own beside the marker (two creates never write the same temporary file).</summary>
    private static string TempName(string marker) => $"{marker}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";

    /// <summary>Rewrites our own marker whole (rename replaces it atomically).</summary>
    private static void Replace(string path, Marker m)
    {
        var tmp = TempName(path);
        File.WriteAllText(tmp, JsonSerializer.Serialize(m, BackupManifest.Json));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>
    /// Drops the view, keeping the claim on the directory (the caller still records the point); on failure
    /// <see cref="DropFailure"/> says why and the marker stays for the next create.
    /// </summary>
    public void EndView()
    {
        if (_viewEnded) return;
        _viewEnded = true;
        if (_view is null) return;
        try
        {
            _admin.DropView(_volume);
        }
        catch (BackupException e) when (e.Message.Contains("no backup view", StringComparison.Ordinal))
        {
            // already gone (a broken view the daemon ended, or a restart)
        }
        catch (Exception e) when (e is BackupException or IOException)
        {
            // The daemon went away (its views end with it, or survive a restart intact: the marker
            // stays for the next create either way).
            DropFailure = e.Message;
            _keepMarker = true;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        EndView();
        if (!_keepMarker) File.Delete(_marker);
    }
}
