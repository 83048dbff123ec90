using Mono.Unix.Native;

namespace DmEra.Storage;

/// <summary>
/// A hole map over a read-only descriptor of its own, opened without the flock .NET adds to every handle:
/// the era engine holds the origin exclusively, and hole queries must not be refused for that.
/// </summary>
public sealed class UnlockedHoleMap : IHoleMap, IDisposable
{
    private readonly int _fd;

    private UnlockedHoleMap(int fd, long size)
    {
        _fd = fd;
        Size = size;
    }

    public long Size { get; }

    /// <summary>Null when the file cannot be opened for reading.</summary>
    public static UnlockedHoleMap? TryOpen(string path, long size)
    {
        var fd = Syscall.open(path, OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC);
        return fd < 0 ? null : new UnlockedHoleMap(fd, size);
    }

    public long NextData(long offset) => LinuxFile.NextData(_fd, offset);

    public long NextHole(long offset) => LinuxFile.NextHole(_fd, offset, Size);

    public void Dispose() => Syscall.close(_fd);
}
