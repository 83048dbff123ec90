using System.Runtime.InteropServices;

namespace DmEra.Backup;

/// <summary>fsync of a directory, so a rename in it survives a crash (POSIX: the file's own fsync does not cover its name).</summary>
internal static partial class DirectorySync
{
    public static void Sync(string dir)
    {
        var fd = Open(dir, 0 /* O_RDONLY */);
        if (fd < 0) return;    // best effort: some filesystems refuse opening directories
        try
        {
            _ = Fsync(fd);
        }
        finally
        {
            _ = CloseFd(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)] private static partial int Open(string path, int flags);
    [LibraryImport("libc", EntryPoint = "fsync")] private static partial int Fsync(int fd);
    [LibraryImport("libc", EntryPoint = "close")] private static partial int CloseFd(int fd);
}
