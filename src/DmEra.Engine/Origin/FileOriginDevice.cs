#nullable enable
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;

namespace DmEra.Engine.Origin;

/// <summary>
/// An origin file or block device on one shared handle. Reads and writes are positional
/// (<see cref="RandomAccess"/> = pread/pwrite), so concurrent requests never contend on a file position.
/// The barrier is fdatasync(2) through Mono.Posix (the BCL only offers fsync, which also forces metadata
/// such as mtime that the data does not need), run by a <see cref="GroupFlusher"/> on its own thread.
/// </summary>
public sealed class FileOriginDevice : IOriginDevice
{
    /// <summary>Zero-writes go out in chunks of this size so a huge write-zeroes does not allocate its length.</summary>
    private const int ZeroChunkBytes = 1 << 20;
    private static readonly ReadOnlyMemory<byte> Zeroes = new byte[ZeroChunkBytes];
    private readonly SafeFileHandle _handle;
    private readonly GroupFlusher _flusher;
    private int _punchHoleUnsupported;

    private FileOriginDevice(SafeFileHandle handle, string path, long size)
    {
        _handle = handle;
        Path = path;
        SizeBytes = size;
        _flusher = new GroupFlusher(Fdatasync, "dmera-origin-flush");
    }

    /// <summary>fdatasync calls made (concurrent flush requests share one).</summary>
    public long Flushes => _flusher.Flushes;

    public string Path { get; }
    public long SizeBytes { get; }

    /// <summary>
    /// Opens the origin read-write and exclusively (flock LOCK_EX): a second daemon on the same origin would
    /// write blocks the first one never tracks.
    /// </summary>
    public static FileOriginDevice Open(string path)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.None);
        var size = RandomAccess.GetLength(handle);
        if (size == 0)
        {
            // Block devices report st_size 0; lseek(SEEK_END) gives their capacity.
            var end = Syscall.lseek((int)handle.DangerousGetHandle(), 0, SeekFlags.SEEK_END);
            if (end < 0) { handle.Dispose(); throw new IOException($"{path}: cannot determine the device size"); }
            size = end;
        }
        return new FileOriginDevice(handle, path, size);
    }

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var n = await RandomAccess.ReadAsync(_handle, buffer[done..], offset + done).ConfigureAwait(false);
            if (n == 0) { buffer.Span[done..].Clear(); return; }   // past the end of a file: zeroes, as a sparse tail reads
            done += n;
        }
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data) => RandomAccess.WriteAsync(_handle, data, offset);

    public async ValueTask TrimAsync(long offset, long length)
    {
        // fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) frees the blocks of a file; where the
        // filesystem or device refuses (EOPNOTSUPP), zeroes keep the promise that trimmed data is gone.
        if (Volatile.Read(ref _punchHoleUnsupported) == 0 && length > 0)
        {
            if (fallocate((int)_handle.DangerousGetHandle(), FallocPunchHole | FallocKeepSize, offset, length) == 0) return;
            Interlocked.Exchange(ref _punchHoleUnsupported, 1);
        }
        await WriteZeroesAsync(offset, length).ConfigureAwait(false);
    }

    public async ValueTask WriteZeroesAsync(long offset, long length)
    {
        for (long done = 0; done < length; done += ZeroChunkBytes)
        {
            var n = (int)Math.Min(ZeroChunkBytes, length - done);
            await RandomAccess.WriteAsync(_handle, Zeroes[..n], offset + done).ConfigureAwait(false);
        }
    }

    public ValueTask FlushAsync() => new(_flusher.FlushAsync());

    private void Fdatasync()
    {
        int r;
        do r = Syscall.fdatasync((int)_handle.DangerousGetHandle());
        while (r < 0 && Stdlib.GetLastError() == Errno.EINTR);
        if (r < 0) throw new IOException($"{Path}: fdatasync failed: {Stdlib.GetLastError()}");
    }

    public void Dispose()
    {
        _flusher.Dispose();
        _handle.Dispose();
    }

    private const int FallocKeepSize = 0x01;
    private const int FallocPunchHole = 0x02;

    [DllImport("libc", SetLastError = true)]
    private static extern int fallocate(int fd, int mode, long offset, long len);
}
