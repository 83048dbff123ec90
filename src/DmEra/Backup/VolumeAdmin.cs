using System.Text.Json;
using DmEra.Admin;

namespace DmEra.Backup;

/// <summary>What <c>status-json VOLUME</c> tells the backup client.</summary>
public sealed record VolumeStatus(string Name, long SizeBytes, uint BlockSizeSectors, uint CurrentEra, string TrackingId, uint? ViewEra,
    string? ViewBroken = null);

/// <summary>What <c>take_backup_snap</c> answered: the era the view closes, its export, and its dirty bitmap when SINCE was given.</summary>
public sealed record ViewInfo(uint Era, string Export, string? Bitmap)
{
    /// <summary>Parses <c>era E export VOL@backup [bitmap qemu:dirty-bitmap:since-S]</c> (the contract's reply).</summary>
    public static ViewInfo Parse(string line)
    {
        var w = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        uint era = 0;
        string? export = null, bitmap = null;
        var ok = true;
        for (var i = 0; i + 1 < w.Length; i += 2)
        {
            switch (w[i])
            {
                case "era": ok &= uint.TryParse(w[i + 1], out era); break;
                case "export": export = w[i + 1]; break;
                case "bitmap": bitmap = w[i + 1]; break;
            }
        }
        if (!ok || export is null || !line.StartsWith("era ", StringComparison.Ordinal))
            throw new BackupException($"unexpected answer to take_backup_snap: {line}");
        return new ViewInfo(era, export, bitmap);
    }
}

/// <summary>The backup client's side of the daemon's admin socket: a fresh connection per command, so a broken one never blocks the drop.</summary>
public sealed class VolumeAdmin(string socket)
{
    public string Socket { get; } = socket;

    public VolumeStatus Status(string volume, CancellationToken ct = default)
    {
        var lines = Send($"status-json {volume}", ct);
        if (lines.Count == 0) throw new BackupException($"the daemon said nothing about volume {volume}");
        using var doc = JsonDocument.Parse(lines[0]);
        var r = doc.RootElement;
        var hasView = r.TryGetProperty("view", out var v) && v.ValueKind == JsonValueKind.Object;
        uint? viewEra = hasView && v.TryGetProperty("era", out var e) ? e.GetUInt32() : null;
        var broken = hasView && v.TryGetProperty("broken", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString() : null;
        return new VolumeStatus(
            volume,
            r.GetProperty("size_bytes").GetInt64(),
            r.GetProperty("block_size_sectors").GetUInt32(),
            r.TryGetProperty("current_era", out var ce) ? ce.GetUInt32() : throw new BackupException($"volume {volume} reports no era (state {r.GetProperty("state")})"),
            r.TryGetProperty("tracking_id", out var t) && t.GetString() is { } id ? id : "",
            viewEra,
            broken);
    }

    public ViewInfo TakeView(string volume, uint? sinceEra, CancellationToken ct = default)
    {
        var lines = Send(sinceEra is { } s ? $"message {volume} take_backup_snap {s}" : $"message {volume} take_backup_snap", ct);
        if (lines.Count == 0) throw new BackupException("take_backup_snap answered nothing");
        return ViewInfo.Parse(lines[0]);
    }

    public void DropView(string volume, CancellationToken ct = default) => Send($"message {volume} drop_backup_snap", ct);

    private IReadOnlyList<string> Send(string line, CancellationToken ct)
    {
        try
        {
            using var client = AdminClient.Connect(Socket);
            return client.SendAsync(line, ct).GetAwaiter().GetResult();
        }
        catch (AdminCommandException e)
        {
            throw new BackupException(e.Message, e);
        }
    }
}
