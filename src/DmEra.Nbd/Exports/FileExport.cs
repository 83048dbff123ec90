#nullable enable
using Microsoft.Win32.SafeHandles;

namespace DmEra.Nbd.Exports;

/// <summary>
/// Serves a regular file or block device with positional I/O (pread/pwrite through RandomAccess). FUA and
/// FLUSH call fdatasync, trim and write-zeroes use fallocate where the filesystem supports it, and
/// base:allocation comes from SEEK_DATA/SEEK_HOLE. One file descriptor is shared by every connection, so
/// a flush on any connection covers all writes (multi-conn is safe).
/// </summary>
public sealed class FileExport : INbdExport, IDisposable
{
    /// <summary>Write-zeroes falls back to writing this much zeroed buffer at a time when fallocate cannot zero.</summary>
    private const int ZeroChunkBytes = 1024 * 1024;

    private static readonly byte[] Zeroes = new byte[ZeroChunkBytes];
    private readonly SafeFileHandle _handle;
    private readonly string _path;
    private readonly MetaContextSet _contexts;
    /// <summary>
    /// False on tmpfs: there everything is reported as data (status 0, always a safe answer) and writes run
    /// inline, since tmpfs I/O is a memory copy.
    /// </summary>
    private readonly bool _reportsHoles;

    /// <summary>Opens <paramref name="path"/>; it must exist (a file or a block device).</summary>
    public FileExport(string path, bool readOnly = false, int preferredBlockSize = 4096, string? description = null)
    {
        _path = path;
        try
        {
            _handle = File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, FileShare.ReadWrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NbdException(NbdError.IoError, $"cannot open export file {path}: {e.Message}", e);
        }
        Size = LinuxFile.SizeOf(_handle);
        _reportsHoles = !LinuxFile.IsTmpfs(_handle);
        PreferredBlockSize = preferredBlockSize;
        Description = description;
        Capabilities = NbdExportCapabilityDefaults.Storage(readOnly);
        _contexts = new MetaContextSet(new DelegateMetaContext(NbdMetaContexts.BaseAllocation, GetAllocationAsync));
    }

    public long Size { get; }
    public NbdExportCapabilities Capabilities { get; }
    public int PreferredBlockSize { get; }
    public string? Description { get; }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        // Page-cache hits are served inline; only what would wait for the device goes to the thread pool.
        int cached = LinuxFile.TryReadCached(_handle, buffer.Span, offset);
        return cached == buffer.Length ? ValueTask.CompletedTask : ReadSlowAsync(offset + cached, buffer[cached..], cancellationToken);
    }

    private async ValueTask ReadSlowAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            int n = await RandomAccess.ReadAsync(_handle, buffer, offset, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                // The file shrank under us: what lies past the end reads as zeroes rather than stale bytes.
                buffer.Span.Clear();
                return;
            }
            buffer = buffer[n..];
            offset += n;
        }
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken)
    {
        // As with reads: a write the page cache takes at once is done inline, the rest on the thread pool.
        // tmpfs is memory (it never waits for a device) but refuses RWF_NOWAIT, so there pwrite runs inline.
        if (!_reportsHoles && !fua)
        {
            RandomAccess.Write(_handle, data.Span, offset);
            return ValueTask.CompletedTask;
        }
        int done = fua ? 0 : LinuxFile.TryWriteCached(_handle, data.Span, offset);
        return done == data.Length ? ValueTask.CompletedTask : WriteSlowAsync(offset + done, data[done..], fua, cancellationToken);
    }

    private async ValueTask WriteSlowAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken)
    {
        await RandomAccess.WriteAsync(_handle, data, offset, cancellationToken).ConfigureAwait(false);
        if (fua) LinuxFile.DataSync(_handle, _path);
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        // fdatasync blocks; the thread pool absorbs it so the connection's reader keeps going.
        return new ValueTask(Task.Run(() => LinuxFile.DataSync(_handle, _path), cancellationToken));
    }

    public ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken)
    {
        // fallocate and fdatasync block; on the thread pool they do not hold up the connection's reader.
        return new ValueTask(Task.Run(() =>
        {
            // A hint: failure to punch (filesystem without support, block device) is not an error.
            LinuxFile.PunchHole(_handle, offset, length);
            if (fua) LinuxFile.DataSync(_handle, _path);
        }, cancellationToken));
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, NbdZeroFlags flags, CancellationToken cancellationToken)
    {
        await Task.Yield(); // fallocate can take a while on large ranges: leave the reader's thread at once
        bool done = (flags & NbdZeroFlags.NoHole) == 0
            ? LinuxFile.PunchHole(_handle, offset, length) || LinuxFile.ZeroRange(_handle, offset, length)
            : LinuxFile.ZeroRange(_handle, offset, length);
        if (!done)
        {
            if ((flags & NbdZeroFlags.FastZero) != 0)
                throw new NbdException(NbdError.NotSupported, "fast zero not possible: the file system cannot fallocate this range");
            for (long at = offset, end = offset + length; at < end; at += ZeroChunkBytes)
            {
                int n = (int)Math.Min(ZeroChunkBytes, end - at);
                await RandomAccess.WriteAsync(_handle, Zeroes.AsMemory(0, n), at, cancellationToken).ConfigureAwait(false);
            }
        }
        if ((flags & NbdZeroFlags.Fua) != 0) LinuxFile.DataSync(_handle, _path);
    }

    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken)
    {
        LinuxFile.WillNeed(_handle, offset, length);
        return ValueTask.CompletedTask;
    }

    public IEnumerable<string> ListMetaContexts(string query) => _contexts.List(query);

    public INbdMetaContext? ResolveMetaContext(string name) => _contexts.Resolve(name);

    private ValueTask GetAllocationAsync(long offset, long length, NbdExtentList extents, CancellationToken cancellationToken)
    {
        long end = Math.Min(Size, offset + length);
        if (!_reportsHoles)
        {
            extents.Add(end - offset, 0);
            return ValueTask.CompletedTask;
        }
        while (offset < end && !extents.IsFull)
        {
            long data = LinuxFile.NextData(_handle, offset);
            if (data < 0 || data >= end)
            {
                extents.Add(end - offset, NbdMetaContexts.StateHole | NbdMetaContexts.StateZero);
                break;
            }
            if (data > offset)
            {
                extents.Add(data - offset, NbdMetaContexts.StateHole | NbdMetaContexts.StateZero);
                offset = data;
                continue;
            }
            long hole = Math.Min(Math.Max(LinuxFile.NextHole(_handle, offset, Size), offset + 1), end);
            extents.Add(hole - offset, 0);
            offset = hole;
        }
        return ValueTask.CompletedTask;
    }

    public void Dispose() => _handle.Dispose();
}
