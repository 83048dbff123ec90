using System.Net.Sockets;
using Mono.Unix.Native;

namespace DmEra.Nbd;

/// <summary>
/// The file of a listening Unix socket: a path another server still answers on is never taken over, and at
/// stop only the socket this process bound is removed (by inode), never one another daemon made there since.
/// </summary>
public sealed class UnixSocketFile
{
    private readonly string _path;
    private readonly ulong _device;
    private readonly ulong _inode;

    private UnixSocketFile(string path, ulong device, ulong inode)
    {
        _path = path;
        _device = device;
        _inode = inode;
    }

    /// <summary>
    /// Removes a stale socket at <paramref name="path"/> (left by a killed process: nobody answers). Throws
    /// <see cref="IOException"/> when a server answers there or a file that is not a socket is in the way.
    /// </summary>
    public static void RemoveStale(string path, string what)
    {
        if (Syscall.lstat(path, out var stat) != 0) return;
        if ((stat.st_mode & FilePermissions.S_IFMT) != FilePermissions.S_IFSOCK)
            throw new IOException($"cannot listen on {path}: a file that is not a socket is in the way");
        if (Answers(path))
            throw new IOException($"cannot listen on {path}: another process answers on this {what} (another dmera serve?); stop it or choose another path");
        File.Delete(path);
    }

    /// <summary>Remembers the socket just bound at <paramref name="path"/>.</summary>
    public static UnixSocketFile Bound(string path)
    {
        if (Syscall.lstat(path, out var stat) != 0)
            throw new IOException($"{path}: the socket just bound is gone ({Stdlib.GetLastError()})");
        return new UnixSocketFile(path, stat.st_dev, stat.st_ino);
    }

    /// <summary>Deletes the socket file if it is still the one this process bound.</summary>
    public void DeleteIfStillOurs()
    {
        if (Syscall.lstat(_path, out var stat) == 0 && stat.st_dev == _device && stat.st_ino == _inode)
            Syscall.unlink(_path);
    }

    private static bool Answers(string path)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
