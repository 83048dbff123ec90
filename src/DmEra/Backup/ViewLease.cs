using System.Text.Json;

namespace DmEra.Backup;

/// <summary>
/// A held backup view, ended whatever happens: <see cref="Dispose"/> drops it on success, error or
/// cancellation (Ctrl-C, SIGTERM). A client killed with SIGKILL cannot drop it, so before taking the
/// view the lease leaves a marker in the chain's directory; the next <c>create</c> finds it, drops the
/// view that marker names (when the daemon still holds it) and starts clean.
/// </summary>
public sealed class ViewLease : IDisposable
{
    public const string MarkerName = ".backup-in-progress.json";
    private readonly VolumeAdmin _admin;
    private readonly string _volume;
    private readonly string _marker;
    private bool _dropped;

    private ViewLease(VolumeAdmin admin, string volume, string marker, ViewInfo view)
    {
        _admin = admin;
        _volume = volume;
        _marker = marker;
        View = view;
    }

    public ViewInfo View { get; }

    /// <summary>Why the view could not be dropped (the daemon went away), or null.</summary>
    public string? DropFailure { get; private set; }

    private sealed record Marker(string Volume, int Pid, uint? Era);

    public static ViewLease Take(VolumeAdmin admin, string volume, uint? sinceEra, string dir, CancellationToken ct)
    {
        var marker = Path.Combine(dir, MarkerName);
        WriteMarker(marker, new Marker(volume, Environment.ProcessId, null));
        ViewInfo view;
        try
        {
            view = admin.TakeView(volume, sinceEra, ct);
        }
        catch
        {
            // Refused or unreachable: no view of ours is held (a take that the daemon did but could not
            // answer leaves the marker, with no era, for the next create to clean up).
            if (ct.IsCancellationRequested is false) File.Delete(marker);
            throw;
        }
        WriteMarker(marker, new Marker(volume, Environment.ProcessId, view.Era));
        return new ViewLease(admin, volume, marker, view);
    }

    /// <summary>
    /// Ends a view an earlier create left held (killed with SIGKILL, or the daemon unreachable at its end):
    /// the one its marker names, when its process is gone. Returns what it did, or null when nothing was left.
    /// </summary>
    public static string? RecoverInterrupted(VolumeAdmin admin, string dir)
    {
        var path = Path.Combine(dir, MarkerName);
        if (!File.Exists(path)) return null;
        Marker? m;
        try
        {
            m = JsonSerializer.Deserialize<Marker>(File.ReadAllText(path), BackupManifest.Json);
        }
        catch (JsonException)
        {
            m = null;
        }
        if (m is null)
        {
            File.Delete(path);
            return null;
        }
        if (m.Pid != Environment.ProcessId && IsAlive(m.Pid))
            throw new BackupException($"another dmera backup (pid {m.Pid}) is writing to {dir}");
        var status = admin.Status(m.Volume);
        string? what = null;
        // Drop only the view that backup took (same era), or any view when it died before learning the era.
        if (status.ViewEra is { } era && (m.Era is null || m.Era == era))
        {
            admin.DropView(m.Volume);
            what = $"dropped the view (era {era}) an interrupted backup left held on {m.Volume}";
        }
        File.Delete(path);
        return what;
    }

    private static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}");

    private static void WriteMarker(string path, Marker m)
    {
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(m, BackupManifest.Json));
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public void Dispose()
    {
        if (_dropped) return;
        _dropped = true;
        try
        {
            _admin.DropView(_volume);
            File.Delete(_marker);
        }
        catch (BackupException e) when (e.Message.Contains("no backup view", StringComparison.Ordinal))
        {
            File.Delete(_marker);    // already gone (a broken view the daemon ended, or a restart)
        }
        catch (Exception e) when (e is BackupException or IOException)
        {
            // The daemon went away (its views end with it, or survive a restart intact: the marker
            // stays for the next create either way).
            DropFailure = e.Message;
        }
    }
}
