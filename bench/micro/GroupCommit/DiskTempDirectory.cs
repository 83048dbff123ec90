namespace DmEra.Micro.Bench.GroupCommit;

/// <summary>
/// A temporary directory for metadata files whose fdatasync must reach a disk: on tmpfs or ramfs it returns
/// at once and the "file" numbers would be memory numbers, so such a place is refused. TMPDIR picks another.
/// </summary>
public sealed class DiskTempDirectory : IDisposable
{
    private static readonly string[] MemoryFileSystems = ["tmpfs", "ramfs"];

    public DiskTempDirectory(string prefix)
    {
        Info = Directory.CreateTempSubdirectory(prefix);
        var fileSystem = FileSystemOf(Info.FullName);
        if (MemoryFileSystems.Contains(fileSystem))
        {
            Info.Delete();
            throw new InvalidOperationException($"{Info.FullName} is on {fileSystem}, where fdatasync writes nothing; set TMPDIR to a directory on a disk");
        }
    }

    public DirectoryInfo Info { get; }

    public string PathOf(string name) => Path.Combine(Info.FullName, name);

    public void Dispose() => Info.Delete(recursive: true);

    /// <summary>The type of the mount holding <paramref name="path"/>: the longest mount point that contains it.</summary>
    private static string FileSystemOf(string path) => DriveInfo.GetDrives()
        .Where(d => Contains(d.RootDirectory.FullName, path))
        .MaxBy(d => d.RootDirectory.FullName.Length)?.DriveFormat ?? "unknown";

    private static bool Contains(string mountPoint, string path)
    {
        var root = mountPoint.TrimEnd('/') + "/";
        return path == mountPoint || path.StartsWith(root, StringComparison.Ordinal);
    }
}
