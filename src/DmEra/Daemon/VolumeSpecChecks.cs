using Mono.Unix.Native;

namespace DmEra.Daemon;

/// <summary>
/// What must hold across the volumes of one daemon before any starts: unique names (each is an NBD export
/// and an admin target), and no file used twice (a second volume on the same metadata or origin would write
/// blocks the first never tracks). Files are compared by device and inode, so a symlink or another spelling
/// of a path is caught too. A backup-store's directory must exist.
/// </summary>
public static class VolumeSpecChecks
{
    public static void Validate(IReadOnlyList<VolumeSpec> volumes)
    {
        var duplicate = volumes.GroupBy(v => v.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ConfigurationException($"volume name '{duplicate.Key}' is given {duplicate.Count()} times: each volume needs a name of its own");

        // A backup-store given with a typo in its directory would otherwise be created wherever the typo points
        // (as root, on the root filesystem): the directory must exist.
        foreach (var v in volumes)
            if (v.BackupStorePath is { } store && Path.GetDirectoryName(Path.GetFullPath(store)) is { } storeDir && !Directory.Exists(storeDir))
                throw new ConfigurationException($"volume {v.Name}: backup-store {store}: directory {storeDir} does not exist (create it, or leave backup-store out for {v.MetadataPath}.backup)");

        var seen = new Dictionary<string, (VolumeSpec Volume, string Role, string Path)>(StringComparer.Ordinal);
        foreach (var v in volumes)
            foreach (var (role, path) in new[] { ("origin", v.OriginPath), ("metadata", v.MetadataPath) })
            {
                var key = Identity(path);
                if (seen.TryGetValue(key, out var first))
                    throw new ConfigurationException(Describe(first.Volume, first.Role, first.Path, v, role, path));
                seen.Add(key, (v, role, path));
            }
    }

    private static string Describe(VolumeSpec a, string aRole, string aPath, VolumeSpec b, string bRole, string bPath)
    {
        var same = aPath == bPath ? aPath : $"{aPath} and {bPath} (the same file)";
        if (a.Name == b.Name) return $"volume {a.Name} uses {same} as both origin and metadata: they must be two files";
        return aRole == bRole
            ? $"volumes {a.Name} and {b.Name} both use {same} as {aRole}: each volume needs its own {aRole}"
            : $"volume {a.Name}'s {aRole} {aPath} is volume {b.Name}'s {bRole}{(aPath == bPath ? "" : $" {bPath}")}: a file serves one volume in one role";
    }

    /// <summary>The file's device and inode when it exists (symlinks followed), else its full path.</summary>
    private static string Identity(string path) =>
        Syscall.stat(path, out var st) == 0 ? $"inode:{st.st_dev}:{st.st_ino}" : "path:" + Path.GetFullPath(path);
}
