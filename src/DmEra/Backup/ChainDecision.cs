namespace DmEra.Backup;

/// <summary>Full or incremental, and why: pure, from the chain's last point and the volume's status now.</summary>
public sealed record ChainDecision(bool Full, uint? SinceEra, string? Reason)
{
    public static ChainDecision For(BackupPoint? last, VolumeStatus volume, bool forceFull)
    {
        if (forceFull) return new(true, null, last is null ? null : "--full asked for a full backup");
        if (last is null) return new(true, null, null);
        if (string.IsNullOrEmpty(volume.TrackingId) || volume.TrackingId != last.TrackingId)
            return new(true, null,
                $"the volume's tracking history is not the chain's (tracking id {Show(volume.TrackingId)}, the chain's {Show(last.TrackingId)}): " +
                "its metadata was re-formatted or restored, or another volume has its name");
        if (volume.SizeBytes != last.SizeBytes)
            return new(true, null, $"the volume's size changed ({last.SizeBytes} bytes at point {last.Point}, {volume.SizeBytes} now)");
        if (volume.CurrentEra <= last.Era)
            return new(true, null,
                $"the volume's era went backwards (current era {volume.CurrentEra}, the chain's point {last.Point} closed era {last.Era})");
        return new(false, last.Era + 1, null);
    }

    private static string Show(string id) => string.IsNullOrEmpty(id) ? "none" : id;
}
