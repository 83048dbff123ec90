using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace DmEra.Storage;

/// <summary>
/// A regular file or block device used as a disk: positional I/O on one shared handle (concurrent requests
/// never contend on a file position), durability through a <see cref="GroupFlusher"/> on its own thread.
/// Both the era engine's origin and the NBD server's plain file export stand on it, so they serve the page
/// cache the same way: what it can answer at once is answered on the caller's thread, and only what would
/// wait for the device goes to the thread pool (a hop that costs more than a 4 KiB copy).
/// </summary>
public sealed class DiskFile : IHoleMap, IDisposable
{
    /// <summary>
    /// Writes up to this size may run inline (see <see cref="InlineWriteGate"/>). The caller has usually just
    /// received the payload on this thread, so the copy into the page cache reads it from this core's cache;
    /// the thread pool would wake another thread that reads it again from memory (bench/peers, 1 MiB writes at
    /// QD4 over TCP: 1,814 MiB/s with the 64 KiB limit, 4,523 with this one; peers-2026-11-24-1517 and -1727).
    /// A 1 MiB write holds the thread about 0.2 ms; bigger ones go to the pool. The default of
    /// <see cref="InlineWriteSettings.MaxBytes"/> (dmera.storage.inline-write-max-bytes in akka.hocon).
    /// </summary>
    public const int InlineWriteMaxBytes = 1 << 20;

    /// <summary>
    /// Bigger writes reach the page cache in pieces of this size. Linux 6.x caches an ext4 write in folios as
    /// large as the write, and a later 4 KiB write into a cached folio costs in proportion to the folio: on
    /// this machine's 6.18 kernel a random 4 KiB pwrite took 19 µs into a file written in 1 MiB pieces and
    /// 6.5 µs after 256 KiB pieces, while rewriting cached data in 256 KiB pieces ran within 4% of 1 MiB ones
    /// (bench/folio/run.py, results/folio-2026-11-24.md). Written whole, a client's 1 MiB writes would make
    /// every later small write to that region slower, for every client.
    /// </summary>
    internal const int WritePieceBytes = 256 * 1024;

    /// <summary>Zero-writes go out in chunks of this size so a huge write-zeroes does not allocate its length.</summary>
    private const int ZeroChunkBytes = 1 << 20;
    private static readonly ReadOnlyMemory<byte> Zeroes = new byte[ZeroChunkBytes];
    private static readonly int PageMask = Environment.SystemPageSize - 1;

    private readonly SafeFileHandle _handle;
    private GroupFlusher? _flusher;   // made at the first FlushAsync: a device flushed only synchronously (metadata) needs no thread
    private readonly InlineWriteGate _gate;
    private readonly int _inlineWriteMaxBytes;
    // RWF_NOWAIT support is per filesystem (ext4 refuses it for buffered writes, xfs and btrfs take it).
    private volatile bool _readNoWait = true;
    private volatile bool _writeNoWait = true;

    private DiskFile(SafeFileHandle handle, string path, InlineWriteSettings? inline)
    {
        inline ??= new InlineWriteSettings();
        _gate = new InlineWriteGate(inline);
        _inlineWriteMaxBytes = inline.MaxBytes;
        _handle = handle;
        Path = path;
        Size = LinuxFile.SizeOf(handle);
        IsTmpfs = LinuxFile.IsTmpfs(handle);
    }

    /// <summary>
    /// Opens an existing file or device. <see cref="FileShare.None"/> takes an exclusive flock (a second
    /// opener is refused), <see cref="FileShare.ReadWrite"/> a shared one.
    /// </summary>
    public static DiskFile Open(string path, bool writable, FileShare share, InlineWriteSettings? inline = null) =>
        new(File.OpenHandle(path, FileMode.Open, writable ? FileAccess.ReadWrite : FileAccess.Read, share), path, inline);

    /// <summary>A disk file over a handle its caller opened (and locked) its own way; it owns the handle from now on.</summary>
    public static DiskFile Of(SafeFileHandle handle, string path) => new(handle, path, null);

    public string Path { get; }
    public long Size { get; }

    /// <summary>The open file, for a caller that sends from it directly (sendfile); it stays owned by this object.</summary>
    public SafeFileHandle Handle => _handle;

    /// <summary>tmpfs: I/O is a memory copy (always inline) and SEEK_HOLE is too slow to map holes with.</summary>
    public bool IsTmpfs { get; }

    /// <summary>fdatasync calls made (concurrent flushes share one).</summary>
    public long Flushes => _flusher?.Flushes ?? 0;

    /// <summary>Reads <paramref name="buffer"/>; bytes past the end of the file read as zeroes.</summary>
    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty) return ValueTask.CompletedTask;
        if (IsTmpfs)
        {
            ReadInline(offset, buffer.Span);
            return ValueTask.CompletedTask;
        }
        int done = 0;
        if (_readNoWait)
        {
            done = LinuxFile.ReadNoWait(_handle, buffer.Span, offset);
            if (done < 0) { _readNoWait = false; done = 0; }
        }
        return done == buffer.Length ? ValueTask.CompletedTask : ReadSlowAsync(offset + done, buffer[done..], cancellationToken);
    }

    private void ReadInline(long offset, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            int n = RandomAccess.Read(_handle, buffer, offset);
            if (n == 0)
            {
                buffer.Clear();
                return;
            }
            buffer = buffer[n..];
            offset += n;
        }
    }

    private async ValueTask ReadSlowAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            int n = await RandomAccess.ReadAsync(_handle, buffer, offset, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                // Past the end (a file that shrank, or a sparse tail): zeroes rather than stale bytes.
                buffer.Span.Clear();
                return;
            }
            buffer = buffer[n..];
            offset += n;
        }
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        if (data.IsEmpty) return ValueTask.CompletedTask;
        if (IsTmpfs)
        {
            RandomAccess.Write(_handle, data.Span, offset);
            return ValueTask.CompletedTask;
        }
        int done = 0;
        if (_writeNoWait)
        {
            while (done < data.Length)
            {
                var piece = data.Span.Slice(done, Math.Min(WritePieceBytes, data.Length - done));
                int n = LinuxFile.WriteNoWait(_handle, piece, offset + done);
                if (n < 0) { _writeNoWait = false; break; }
                done += n;
                if (n < piece.Length) break;
            }
            if (done == data.Length) return ValueTask.CompletedTask;
        }
        else if (data.Length <= _inlineWriteMaxBytes && ((offset | (long)data.Length) & PageMask) == 0 && _gate.IsOpen)
        {
            // Whole pages only: a partial page not in the cache would be read from the device first.
            var started = Stopwatch.GetTimestamp();
            WriteInPieces(data.Span, offset);
            _gate.Record(started);
            return ValueTask.CompletedTask;
        }
        var rest = data[done..];
        long at = offset + done;
        return rest.Length <= WritePieceBytes
            ? RandomAccess.WriteAsync(_handle, rest, at, cancellationToken)
            : new ValueTask(Task.Run(() => WriteInPieces(rest.Span, at), cancellationToken));
    }

    private void WriteInPieces(ReadOnlySpan<byte> data, long offset)
    {
        for (int done = 0; done < data.Length; done += WritePieceBytes)
            RandomAccess.Write(_handle, data.Slice(done, Math.Min(WritePieceBytes, data.Length - done)), offset + done);
    }

    /// <summary>The durability barrier: every write completed before the call is on stable storage when the task completes.</summary>
    public Task FlushAsync()
    {
        var flusher = Volatile.Read(ref _flusher);
        if (flusher is null)
        {
            var made = new GroupFlusher(() => LinuxFile.DataSync(_handle, Path), $"flush {System.IO.Path.GetFileName(Path)}");
            flusher = Interlocked.CompareExchange(ref _flusher, made, null);
            if (flusher is null) flusher = made;
            else made.Dispose();
        }
        return flusher.FlushAsync();
    }

    /// <summary>
    /// The synchronous forms, for a caller that owns a thread of its own (the metadata writer's pinned
    /// thread, the era tools): plain pread/pwrite/pwritev and fdatasync, with no pool hop or flusher thread.
    /// A read past the end of the file reads zeroes, as <see cref="ReadAsync"/> does.
    /// </summary>
    public void Read(long offset, Span<byte> buffer) => ReadInline(offset, buffer);

    public void Write(long offset, ReadOnlySpan<byte> data) => RandomAccess.Write(_handle, data, offset);

    public void Write(long offset, IReadOnlyList<ReadOnlyMemory<byte>> pieces) => RandomAccess.Write(_handle, pieces, offset);

    public void Flush() => LinuxFile.DataSync(_handle, Path);

    /// <summary>
    /// Writes zeros into the holes before <paramref name="end"/> and makes them durable; returns the bytes written
    /// (<see cref="LinuxFile.FillHoles"/> says why). The zeros were cached in folios as large as the writes that
    /// filled them, which would make later 4 KiB writes there cost several times more (see
    /// <see cref="WritePieceBytes"/>), so they leave the page cache.
    /// </summary>
    public long AllocateHoles(long end)
    {
        var filled = LinuxFile.FillHoles(_handle, end);
        if (filled == 0) return 0;
        Flush();
        LinuxFile.DontNeed(_handle, 0, 0);
        return filled;
    }

    /// <summary>Deallocates the range (reads return zeroes); false when the filesystem or device cannot.</summary>
    public bool TryPunchHole(long offset, long length) => LinuxFile.PunchHole(_handle, offset, length);

    /// <summary>Zeroes the range keeping it allocated (fallocate ZERO_RANGE); false when unsupported.</summary>
    public bool TryZeroRange(long offset, long length) => LinuxFile.ZeroRange(_handle, offset, length);

    /// <summary>Writes zeroes over the range with ordinary writes (the fallback when fallocate cannot).</summary>
    public async ValueTask WriteZeroBuffersAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        for (long done = 0; done < length; done += ZeroChunkBytes)
        {
            var n = (int)Math.Min(ZeroChunkBytes, length - done);
            await RandomAccess.WriteAsync(_handle, Zeroes[..n], offset + done, cancellationToken).ConfigureAwait(false);
        }
    }

    public long NextData(long offset) => LinuxFile.NextData(LinuxFile.Fd(_handle), offset);

    public long NextHole(long offset) => LinuxFile.NextHole(LinuxFile.Fd(_handle), offset, Size);

    public void WillNeed(long offset, long length) => LinuxFile.WillNeed(_handle, offset, length);

    public void Dispose()
    {
        _flusher?.Dispose();
        _handle.Dispose();
    }
}
