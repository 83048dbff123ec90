using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;

namespace DmEra.Storage;

/// <summary>
/// The Linux file calls the BCL lacks: fdatasync, posix_fadvise and fcntl's file status flags (through
/// Mono.Posix), and lseek SEEK_DATA/SEEK_HOLE, fallocate, preadv2/pwritev2 with RWF_NOWAIT or RWF_DSYNC and
/// fstatfs (P/Invoke, since Mono.Posix exposes none of them).
/// </summary>
public static partial class LinuxFile
{
    private const int SeekData = 3;
    private const int SeekHole = 4;
    private const int SeekEnd = 2;
    private const int FallocKeepSize = 0x01;
    private const int FallocPunchHole = 0x02;
    private const int FallocZeroRange = 0x10;
    private const int RwfNoWait = 0x08;
    private const int RwfDsync = 0x02;
    private const int FGetFl = 3;
    private const int FSetFl = 4;
    /// <summary>O_DIRECT's value differs between architectures; Mono.Posix knows it (asked once, on first use).</summary>
    private static readonly Lazy<int> ODirectFlag = new(() => NativeConvert.FromOpenFlags(OpenFlags.O_DIRECT));
    private static int ODirect => ODirectFlag.Value;
    private const int ENXIO = 6;
    private const int EAGAIN = 11;
    private const long TmpfsMagic = 0x01021994;

    [LibraryImport("libc", EntryPoint = "lseek64", SetLastError = true)]
    private static partial long Lseek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "fallocate64", SetLastError = true)]
    private static partial int Fallocate(int fd, int mode, long offset, long length);

    [LibraryImport("libc", EntryPoint = "preadv2", SetLastError = true)]
    private static unsafe partial nint Preadv2(int fd, IoVec* iov, int iovcnt, long offset, int flags);

    [LibraryImport("libc", EntryPoint = "pwritev2", SetLastError = true)]
    private static unsafe partial nint Pwritev2(int fd, IoVec* iov, int iovcnt, long offset, int flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    private static unsafe partial int Fstatfs(int fd, byte* buffer);

    private struct IoVec
    {
        public nint Base;
        public nuint Length;
    }

    /// <summary>
    /// preadv2(RWF_NOWAIT): the bytes read from the page cache (possibly fewer than asked), 0 when the read
    /// would wait for the device, -1 when the file or kernel does not support RWF_NOWAIT at all.
    /// </summary>
    public static unsafe int ReadNoWait(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        fixed (byte* p = buffer)
        {
            var iov = new IoVec { Base = (nint)p, Length = (nuint)buffer.Length };
            nint n = Preadv2(Fd(handle), &iov, 1, offset, RwfNoWait);
            return n >= 0 ? (int)n : Marshal.GetLastPInvokeError() == EAGAIN ? 0 : -1;
        }
    }

    /// <summary>pwritev2(RWF_NOWAIT): as <see cref="ReadNoWait"/>, for writes into the page cache.</summary>
    public static unsafe int WriteNoWait(SafeFileHandle handle, ReadOnlySpan<byte> data, long offset)
    {
        fixed (byte* p = data)
        {
            var iov = new IoVec { Base = (nint)p, Length = (nuint)data.Length };
            nint n = Pwritev2(Fd(handle), &iov, 1, offset, RwfNoWait);
            return n >= 0 ? (int)n : Marshal.GetLastPInvokeError() == EAGAIN ? 0 : -1;
        }
    }

    /// <summary>
    /// pwritev2(RWF_DSYNC) of <paramref name="length"/> bytes at <paramref name="data"/>: the bytes are durable
    /// when it returns, as after a write and an fdatasync of that range, in one call. Returns the bytes written
    /// or -1 with the error in <see cref="Marshal.GetLastPInvokeError"/>.
    /// </summary>
    public static unsafe nint WriteDsync(SafeFileHandle handle, byte* data, int length, long offset)
    {
        var iov = new IoVec { Base = (nint)data, Length = (nuint)length };
        return Pwritev2(Fd(handle), &iov, 1, offset, RwfDsync);
    }

    /// <summary>preadv2 with no flags into <paramref name="data"/>: the bytes read (0 at the end of the file), or -1 with the error in <see cref="Marshal.GetLastPInvokeError"/>.</summary>
    public static unsafe nint ReadAt(SafeFileHandle handle, byte* data, int length, long offset)
    {
        var iov = new IoVec { Base = (nint)data, Length = (nuint)length };
        return Preadv2(Fd(handle), &iov, 1, offset, 0);
    }

    /// <summary>
    /// Turns O_DIRECT on or off for the open file (fcntl F_SETFL, which may change this flag on an open file).
    /// Returns 0, or the errno: EINVAL where the filesystem cannot do direct I/O.
    /// </summary>
    public static int SetDirect(SafeFileHandle handle, bool on)
    {
        var fd = Fd(handle);
        var flags = Fcntl(fd, FGetFl, 0);
        if (flags < 0) return Marshal.GetLastPInvokeError();
        var wanted = on ? flags | ODirect : flags & ~ODirect;
        return Fcntl(fd, FSetFl, wanted) < 0 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>Whether O_DIRECT is set on the open file (fcntl F_GETFL).</summary>
    public static bool IsDirect(SafeFileHandle handle) => Fcntl(Fd(handle), FGetFl, 0) is var flags and >= 0 && (flags & ODirect) != 0;

    /// <summary>
    /// True when the file lives on tmpfs: its I/O is a memory copy that never waits for a device, and its
    /// SEEK_HOLE scans page by page to the end of the file (quadratic over a whole-disk map; nbdkit's file
    /// plugin documentation warns of the same).
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

    /// <summary>fdatasync(2): the BCL only offers fsync, which also forces metadata such as mtime that the data does not need.</summary>
    public static void DataSync(SafeFileHandle handle, string path)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            int r;
            do r = Syscall.fdatasync(Fd(handle));
            while (r < 0 && Stdlib.GetLastError() == Errno.EINTR);
            if (r < 0) throw new IOException($"fdatasync of {path} failed: {Stdlib.GetLastError()}");
        }
        finally { if (added) handle.DangerousRelease(); }
    }

    /// <summary>
    /// The next data offset at or after <paramref name="offset"/> (SEEK_DATA), or -1 when only a hole remains
    /// (ENXIO). Returns <paramref name="offset"/> itself when the filesystem cannot tell (treat all as data).
    /// </summary>
    public static long NextData(int fd, long offset)
    {
        long r = Lseek(fd, offset, SeekData);
        if (r >= 0) return r;
        return Marshal.GetLastPInvokeError() == ENXIO ? -1 : offset;
    }

    /// <summary>The next hole at or after <paramref name="offset"/> (SEEK_HOLE; the end of file counts as a hole).</summary>
    public static long NextHole(int fd, long offset, long size)
    {
        long r = Lseek(fd, offset, SeekHole);
        return r >= 0 ? r : size;
    }

    /// <summary>
    /// Writes zeros into every hole of a regular file (what it reads back is unchanged) and returns the bytes
    /// written. Afterwards an overwrite anywhere in the file allocates nothing: it cannot fail for want of
    /// space, and its fdatasync need not commit the filesystem's journal as well. A filesystem that cannot
    /// report holes reports none, and nothing is written.
    /// </summary>
    public static long FillHoles(SafeFileHandle handle, long size)
    {
        int fd = Fd(handle);
        var zeros = new byte[1 << 20];
        long filled = 0;
        for (long hole = NextHole(fd, 0, size); hole < size; hole = NextHole(fd, hole, size))
        {
            long data = NextData(fd, hole);
            long end = data < 0 ? size : Math.Min(data, size);
            if (end <= hole) break;   // cannot tell holes apart after all
            while (hole < end)
            {
                int n = (int)Math.Min(zeros.Length, end - hole);
                RandomAccess.Write(handle, zeros.AsSpan(0, n), hole);
                hole += n;
                filled += n;
            }
        }
        return filled;
    }

    /// <summary>Deallocates the range keeping the size; false when the filesystem or device cannot.</summary>
    public static bool PunchHole(SafeFileHandle handle, long offset, long length) =>
        Fallocate(Fd(handle), FallocPunchHole | FallocKeepSize, offset, length) == 0;

    /// <summary>Zeroes the range keeping it allocated; false when unsupported.</summary>
    public static bool ZeroRange(SafeFileHandle handle, long offset, long length) =>
        Fallocate(Fd(handle), FallocZeroRange | FallocKeepSize, offset, length) == 0;

    /// <summary>Drops the range's clean pages from the page cache (length 0: to the end of the file).</summary>
    public static void DontNeed(SafeFileHandle handle, long offset, long length) =>
        Syscall.posix_fadvise(Fd(handle), offset, length, PosixFadviseAdvice.POSIX_FADV_DONTNEED);

    public static void WillNeed(SafeFileHandle handle, long offset, long length) =>
        Syscall.posix_fadvise(Fd(handle), offset, length, PosixFadviseAdvice.POSIX_FADV_WILLNEED);
}
