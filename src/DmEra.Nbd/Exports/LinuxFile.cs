#nullable enable
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;

namespace DmEra.Nbd.Exports;

/// <summary>
/// The Linux file calls the BCL lacks: fdatasync (through Mono.Posix), lseek SEEK_DATA/SEEK_HOLE and
/// fallocate (P/Invoke, since Mono.Posix exposes neither), posix_fadvise.
/// </summary>
internal static partial class LinuxFile
{
    private const int SeekData = 3;
    private const int SeekHole = 4;
    private const int SeekEnd = 2;
    private const int FallocKeepSize = 0x01;
    private const int FallocPunchHole = 0x02;
    private const int FallocZeroRange = 0x10;
    private const int ENXIO = 6;

    [LibraryImport("libc", EntryPoint = "lseek64", SetLastError = true)]
    private static partial long Lseek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "fallocate64", SetLastError = true)]
    private static partial int Fallocate(int fd, int mode, long offset, long length);

    [LibraryImport("libc", EntryPoint = "preadv2", SetLastError = true)]
    private static unsafe partial nint Preadv2(int fd, IoVec* iov, int iovcnt, long offset, int flags);

    [LibraryImport("libc", EntryPoint = "pwritev2", SetLastError = true)]
    private static unsafe partial nint Pwritev2(int fd, IoVec* iov, int iovcnt, long offset, int flags);

    [LibraryImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    private static unsafe partial int Fstatfs(int fd, byte* buffer);

    private struct IoVec
    {
        public nint Base;
        public nuint Length;
    }

    /// <summary>preadv2 flag: fail with EAGAIN instead of waiting for the disk (data not in the page cache).</summary>
    private const int RwfNoWait = 0x08;
    private const int EAGAIN = 11;
    private const long TmpfsMagic = 0x01021994;
    private static volatile bool s_noWaitUnsupported;
    private static volatile bool s_noWaitWriteUnsupported;

    /// <summary>
    /// Writes into the page cache without blocking (pwritev2 RWF_NOWAIT): returns the bytes written, or 0 when
    /// the write would have to wait (dirty throttling, block allocation) or the filesystem cannot promise that.
    /// </summary>
    public static unsafe int TryWriteCached(SafeFileHandle handle, ReadOnlySpan<byte> data, long offset)
    {
        if (s_noWaitWriteUnsupported || data.IsEmpty) return 0;
        fixed (byte* p = data)
        {
            var iov = new IoVec { Base = (nint)p, Length = (nuint)data.Length };
            nint n = Pwritev2(Fd(handle), &iov, 1, offset, RwfNoWait);
            if (n >= 0) return (int)n;
            if (Marshal.GetLastPInvokeError() != EAGAIN) s_noWaitWriteUnsupported = true;
            return 0;
        }
    }

    /// <summary>
    /// Reads from the page cache without blocking: returns the bytes read (possibly fewer than asked), or 0 when
    /// the read would have to wait for the device (or the kernel lacks RWF_NOWAIT). Lets cached reads skip the
    /// thread-pool hop, which costs more than the copy itself.
    /// </summary>
    public static unsafe int TryReadCached(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        if (s_noWaitUnsupported || buffer.IsEmpty) return 0;
        fixed (byte* p = buffer)
        {
            var iov = new IoVec { Base = (nint)p, Length = (nuint)buffer.Length };
            nint n = Preadv2(Fd(handle), &iov, 1, offset, RwfNoWait);
            if (n >= 0) return (int)n;
            int errno = Marshal.GetLastPInvokeError();
            if (errno != EAGAIN) s_noWaitUnsupported = true; // EOPNOTSUPP/ENOSYS/EINVAL: never ask again
            return 0;
        }
    }

    /// <summary>
    /// True when the file lives on tmpfs, where SEEK_HOLE scans page by page to the end of file (quadratic
    /// over a whole-disk map; nbdkit's file plugin documentation warns of the same).
    /// </summary>
    public static unsafe bool IsTmpfs(SafeFileHandle handle)
    {
        // struct statfs starts with f_type (a long on 64-bit Linux); 256 bytes covers the whole struct.
        byte* buffer = stackalloc byte[256];
        return Fstatfs(Fd(handle), buffer) == 0 && *(long*)buffer == TmpfsMagic;
    }

    public static int Fd(SafeFileHandle handle) => (int)handle.DangerousGetHandle();

    /// <summary>Size of a regular file or a block device (RandomAccess.GetLength reports 0 for devices).</summary>
    public static long SizeOf(SafeFileHandle handle)
    {
        long end = Lseek(Fd(handle), 0, SeekEnd);
        return end >= 0 ? end : RandomAccess.GetLength(handle);
    }

    public static void DataSync(SafeFileHandle handle, string path)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            if (Syscall.fdatasync(Fd(handle)) != 0)
                throw new NbdException(NbdError.IoError, $"fdatasync of {path} failed: {Stdlib.GetLastError()}");
        }
        finally { if (added) handle.DangerousRelease(); }
    }

    /// <summary>
    /// The next data offset at or after <paramref name="offset"/> (SEEK_DATA), or -1 when only a hole remains
    /// (ENXIO). Returns <paramref name="offset"/> itself when the filesystem cannot tell (treat all as data).
    /// </summary>
    public static long NextData(SafeFileHandle handle, long offset)
    {
        long r = Lseek(Fd(handle), offset, SeekData);
        if (r >= 0) return r;
        return Marshal.GetLastPInvokeError() == ENXIO ? -1 : offset;
    }

    /// <summary>The next hole at or after <paramref name="offset"/> (SEEK_HOLE; the end of file counts as a hole).</summary>
    public static long NextHole(SafeFileHandle handle, long offset, long size)
    {
        long r = Lseek(Fd(handle), offset, SeekHole);
        return r >= 0 ? r : size;
    }

    /// <summary>Deallocates the range keeping the size; false when the filesystem or device cannot.</summary>
    public static bool PunchHole(SafeFileHandle handle, long offset, long length) =>
        Fallocate(Fd(handle), FallocPunchHole | FallocKeepSize, offset, length) == 0;

    /// <summary>Zeroes the range keeping it allocated; false when unsupported.</summary>
    public static bool ZeroRange(SafeFileHandle handle, long offset, long length) =>
        Fallocate(Fd(handle), FallocZeroRange | FallocKeepSize, offset, length) == 0;

    public static void WillNeed(SafeFileHandle handle, long offset, long length) =>
        Syscall.posix_fadvise(Fd(handle), offset, length, PosixFadviseAdvice.POSIX_FADV_WILLNEED);
}
