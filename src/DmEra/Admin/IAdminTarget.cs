namespace DmEra.Admin;

/// <summary>What admin commands act on: the daemon's volumes. Errors are exceptions whose message is shown.</summary>
public interface IAdminTarget
{
    IReadOnlyList<string> VolumeNames { get; }

    /// <summary>A kernel message to one volume; returns the lines to print (the new era, the held root).</summary>
    Task<IReadOnlyList<string>> MessageAsync(string volume, string message, CancellationToken ct);

    /// <summary>One era boundary across several volumes; returns a line per volume with its new era.</summary>
    Task<IReadOnlyList<string>> GroupCheckpointAsync(IReadOnlyList<string> volumes, CancellationToken ct);

    /// <summary>take_backup_snap [SINCE] on several volumes at one instant; a line per volume.</summary>
    Task<IReadOnlyList<string>> TakeBackupAsync(IReadOnlyList<string> volumes, string[] words, CancellationToken ct);

    Task<IReadOnlyList<string>> StatusAsync(string? volume, bool json, CancellationToken ct);

    /// <summary>The volumes served (in a fleet: every member's, each with its node).</summary>
    Task<IReadOnlyList<string>> VolumesAsync(CancellationToken ct) => Task.FromResult(VolumeNames);

    /// <summary>The fleet's members; a daemon outside a fleet says so.</summary>
    Task<IReadOnlyList<string>> NodesAsync(CancellationToken ct) =>
        throw new AdminCommandException("this daemon is not in a fleet (serve with --cluster-listen HOST:PORT and --cluster-seed HOST:PORT)");
}
