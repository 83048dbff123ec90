using DmEra.Storage;
using Microsoft.Win32.SafeHandles;

namespace DmEra.Nbd.Exports;

/// <summary>
/// Serves a regular file or block device through a <see cref="DiskFile"/> (positional I/O, page-cache hits
/// answered inline). FUA and FLUSH call fdatasync, trim and write-zeroes use fallocate where the filesystem
/// supports it, and base:allocation comes from SEEK_DATA/SEEK_HOLE. One file descriptor is shared by every
/// connection, so a flush on any connection covers all writes (multi-conn is safe).
/// </summary>
public sealed class FileExport : INbdExport, INbdFileRangeSource, IDisposable
{
    private readonly DiskFile _file;
    private readonly MetaContextSet _contexts;

    /// <summary>Opens <paramref name="path"/>; it must exist (a file or a block device).</summary>
    public FileExport(string path, bool readOnly = false, int preferredBlockSize = 4096, string? description = null)
    {
        try
        {
            _file = DiskFile.Open(path, writable: !readOnly, FileShare.ReadWrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NbdException(NbdError.IoError, $"cannot open export file {path}: {e.Message}", e);
        }
        PreferredBlockSize = preferredBlockSize;
        Description = description;
        Capabilities = NbdExportCapabilityDefaults.Storage(readOnly);
        _contexts = new MetaContextSet(new DelegateMetaContext(NbdMetaContexts.BaseAllocation, GetAllocationAsync));
    }

    public long Size => _file.Size;
    public NbdExportCapabilities Capabilities { get; }
    public int PreferredBlockSize { get; }
    public string? Description { get; }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
        _file.ReadAsync(offset, buffer, cancellationToken);

    /// <summary>The file itself: every range can be sent from it (null once the export is disposed).</summary>
    public NbdFileRange? TryLeaseFileRange(long offset, int length)
    {
        try { return new FileRange(_file.Handle, offset); }
        catch (ObjectDisposedException) { return null; }
    }

    private sealed class FileRange(SafeFileHandle file, long offset) : NbdFileRange(file, offset);

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken)
    {
        var write = _file.WriteAsync(offset, data, cancellationToken);
        return fua ? ThenFlushAsync(write) : write;
    }

    private async ValueTask ThenFlushAsync(ValueTask operation)
    {
        await operation.ConfigureAwait(false);
        await _file.FlushAsync().ConfigureAwait(false);
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken) => new(_file.FlushAsync());

    public async ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken)
    {
        await Task.Yield(); // fallocate blocks: leave the reader's thread at once
        // A hint: failure to punch (filesystem without support, block device) is not an error.
        _file.TryPunchHole(offset, length);
        if (fua) await _file.FlushAsync().ConfigureAwait(false);
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, NbdZeroFlags flags, CancellationToken cancellationToken)
    {
        await Task.Yield(); // fallocate can take a while on large ranges: leave the reader's thread at once
        bool done = (flags & NbdZeroFlags.NoHole) == 0
            ? _file.TryPunchHole(offset, length) || _file.TryZeroRange(offset, length)
            : _file.TryZeroRange(offset, length);
        if (!done)
        {
            if ((flags & NbdZeroFlags.FastZero) != 0)
                throw new NbdException(NbdError.NotSupported, "fast zero not possible: the file system cannot fallocate this range");
            await _file.WriteZeroBuffersAsync(offset, length, cancellationToken).ConfigureAwait(false);
        }
        if ((flags & NbdZeroFlags.Fua) != 0) await _file.FlushAsync().ConfigureAwait(false);
    }

    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken)
    {
        _file.WillNeed(offset, length);
        return ValueTask.CompletedTask;
    }

    public IEnumerable<string> ListMetaContexts(string query) => _contexts.List(query);

    public INbdMetaContext? ResolveMetaContext(string name) => _contexts.Resolve(name);

    private ValueTask GetAllocationAsync(long offset, long length, NbdExtentList extents, CancellationToken cancellationToken)
    {
        // tmpfs: SEEK_HOLE is too slow to map with, and everything reported as data (status 0) is always safe.
        if (_file.IsTmpfs) extents.Add(Math.Min(Size, offset + length) - offset, 0);
        else FileAllocationMap.Describe(_file, offset, length, extents);
        return ValueTask.CompletedTask;
    }

    public void Dispose() => _file.Dispose();
}
