
namespace DmEra.Storage.Devices;

/// <summary>
/// An origin file or block device: a <see cref="DiskFile"/> opened exclusively, so page-cache hits are served
/// on the caller's thread and fdatasync runs on a thread of its own.
/// </summary>
public sealed class FileOriginDevice : IOriginDevice
{
    private readonly DiskFile _file;
    private int _punchHoleUnsupported;

    private FileOriginDevice(DiskFile file) => _file = file;

    /// <summary>fdatasync calls made (concurrent flush requests share one).</summary>
    public long Flushes => _file.Flushes;

    public string Path => _file.Path;
    public long SizeBytes => _file.Size;

    /// <summary>
    /// Opens the origin read-write and exclusively (flock LOCK_EX): a second daemon on the same origin would
    /// write blocks the first one never tracks.
    /// </summary>
    public static FileOriginDevice Open(string path, InlineWriteSettings? inline = null) =>
        new(DiskFile.Open(path, writable: true, FileShare.None, inline));

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
