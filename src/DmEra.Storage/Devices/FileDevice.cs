using Microsoft.Win32.SafeHandles;

namespace DmEra.Storage.Devices;

/// <summary>
/// A file or block device over a <see cref="DiskFile"/>: the origin (asynchronous calls: page-cache hits are
/// served on the caller's thread, fdatasync runs on a thread of its own) and the metadata (synchronous calls
/// on the metadata writer's thread: pread, pwritev, fdatasync, with nothing between).
/// </summary>
public sealed class FileDevice : IBlockDevice
{
    private readonly DiskFile _file;
    private int _punchHoleUnsupported;

    private FileDevice(DiskFile file) => _file = file;

    /// <summary>fdatasync calls made by <see cref="FlushAsync"/> (concurrent flush requests share one).</summary>
    public long Flushes => _file.Flushes;

    public string Path => _file.Path;
    public long SizeBytes => _file.Size;

    /// <inheritdoc cref="DiskFile.Handle"/>
    public SafeFileHandle Handle => _file.Handle;

    /// <summary>
    /// Opens an origin read-write and exclusively (flock LOCK_EX): a second daemon on the same origin would
    /// write blocks the first one never tracks.
    /// </summary>
    public static FileDevice Open(string path, InlineWriteSettings? inline = null) =>
        new(DiskFile.Open(path, writable: true, FileShare.None, inline));

    /// <summary>A device over a handle its caller opened and locked (the metadata's own lock modes); it owns the handle.</summary>
    public static FileDevice Of(SafeFileHandle handle, string path) => new(DiskFile.Of(handle, path));

    public void Read(long offset, Span<byte> buffer) => _file.Read(offset, buffer);

    public void Write(long offset, ReadOnlySpan<byte> data) => _file.Write(offset, data);

    public void Write(long offset, IReadOnlyList<ReadOnlyMemory<byte>> pieces) => _file.Write(offset, pieces);

    public void Flush() => _file.Flush();

    /// <inheritdoc cref="DiskFile.AllocateHoles"/>
    public long AllocateHoles(long end) => _file.AllocateHoles(end);

    public ValueTask ReadAsync(long offset, Memory<byte> buffer) => _file.ReadAsync(offset, buffer);

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data) => _file.WriteAsync(offset, data);

    public async ValueTask TrimAsync(long offset, long length)
    {
        await Task.Yield(); // fallocate blocks: leave the caller's thread (often the socket engine's) at once
        // A punched hole frees the blocks of a file; where the filesystem or device refuses, zeroes keep the
        // promise that trimmed data is gone.
        if (Volatile.Read(ref _punchHoleUnsupported) == 0 && length > 0)
        {
            if (_file.TryPunchHole(offset, length)) return;
            Interlocked.Exchange(ref _punchHoleUnsupported, 1);
        }
        await WriteZeroesAsync(offset, length).ConfigureAwait(false);
    }

    /// <summary>Zeroes that stay allocated (a later write to them needs no block allocation).</summary>
    public async ValueTask WriteZeroesAsync(long offset, long length)
    {
        await Task.Yield(); // as for trim
        if (length > 0 && !_file.TryZeroRange(offset, length)) await _file.WriteZeroBuffersAsync(offset, length).ConfigureAwait(false);
    }

    public ValueTask FlushAsync() => new(_file.FlushAsync());

    public void Dispose() => _file.Dispose();
}
