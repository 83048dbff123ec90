using Mono.Unix.Native;

namespace DmEra.Daemon;

/// <summary>
/// NBD_CMD_CACHE for an era volume: posix_fadvise(WILLNEED) on a read-only descriptor of the origin's own,
/// opened without .NET's flock (the engine holds the origin exclusively). The kernel starts reading the
/// range into the page cache the volume's reads are served from, and the reply does not wait for it.
/// </summary>
public sealed class OriginReadahead : IDisposable
{
    private readonly int _fd;

    private OriginReadahead(int fd) => _fd = fd;

    /// <summary>Null when the origin cannot be opened for reading (CACHE is then not offered).</summary>
    public static OriginReadahead? TryOpen(string path)
    {
        var fd = Syscall.open(path, OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC);
        return fd < 0 ? null : new OriginReadahead(fd);
    }

    /// <summary>Asks the kernel to read the range ahead; a hint, so a refusal is not an error.</summary>
    public void WillNeed(long offset, long length) =>
        Syscall.posix_fadvise(_fd, offset, length, PosixFadviseAdvice.POSIX_FADV_WILLNEED);

    public void Dispose() => Syscall.close(_fd);
}
