using System.Buffers.Binary;
using System.Diagnostics;
using DmEra.Storage;
using Microsoft.Win32.SafeHandles;

namespace DmEra.Engine.Backup;

/// <summary>Where a backup view keeps the old contents of the chunks overwritten since its instant.</summary>
public interface ISavedCopyFile : IDisposable
{
    string Path { get; }

    /// <summary>Records which held metadata snapshot and era the file belongs to (read back at the next start).</summary>
    void WriteHeader(long heldRoot, uint era);

    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data);

    /// <summary>Fills <paramref name="buffer"/> from <paramref name="offset"/>; a short file is an error.</summary>
    ValueTask ReadAsync(long offset, Memory<byte> buffer);

    /// <summary>Gives back the space of every saved chunk (the view broke; nothing will read them again).</summary>
    void Release();

    /// <summary>Closes and removes the file.</summary>
    void Delete();
}

/// <summary>
/// The saved-copy file: a 4 KiB header (magic, held root, era) then one 4 KiB slot per saved chunk
/// (<see cref="BackupView.ChunkBytes"/>), in the order they were saved. It is never fsync'ed except for its header: a view does not outlive the daemon
/// (at the next start the file is removed and its metadata snapshot dropped), so its blocks only need to be
/// readable while this process runs, and a first write never waits for a flush of the store.
/// Its I/O is page-cache I/O on the caller's thread, as the origin's is (DiskFile): the caller is the view's
/// save queue (<see cref="SaveQueue"/>), already off the request's thread, and a further hop to the thread pool
/// and back costs more than the copy itself on a busy machine (bench/view, results/view-2026-12-03.md). A save that stalls (dirty-page throttling) sends
/// saves to the thread pool for a while (<see cref="InlineWriteGate"/>).
/// </summary>
public sealed class SavedCopyFile : ISavedCopyFile
{
    public const int HeaderBytes = 4096;
    private static readonly byte[] Magic = "DMERA-BACKUP-VIEW-1\n"u8.ToArray();
    private readonly SafeFileHandle _handle;
    private readonly InlineWriteGate _gate = new();
    private int _closed;

    private SavedCopyFile(string path, SafeFileHandle handle)
    {
        Path = path;
        _handle = handle;
    }

    public string Path { get; }

    /// <summary>Creates (or replaces) the file; its header says "no snapshot yet" until <see cref="WriteHeader"/>.</summary>
    public static SavedCopyFile Create(string path)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.Read);
        var file = new SavedCopyFile(path, handle);
        try
        {
            file.WriteHeader(0, 0);
        }
        catch
        {
            file.Delete();
            throw;
        }
        return file;
    }

    public void WriteHeader(long heldRoot, uint era)
    {
        var header = new byte[HeaderBytes];
        Magic.CopyTo(header, 0);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(32), heldRoot);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(40), era);
        RandomAccess.Write(_handle, header, 0);
        RandomAccess.FlushToDisk(_handle);   // the next start must find which snapshot to drop
    }

    /// <summary>The held root a saved-copy file names, 0 when it names none (taken halfway), null when there is no such file.</summary>
    public static long? ReadHeldRoot(string path)
    {
        if (!File.Exists(path)) return null;
        var header = new byte[48];
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (RandomAccess.Read(handle, header, 0) < header.Length || !header.AsSpan(0, Magic.Length).SequenceEqual(Magic)) return 0;
        return BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(32));
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data)
    {
        if (data.Length > DiskFile.InlineWriteMaxBytes || !_gate.IsOpen) return RandomAccess.WriteAsync(_handle, data, offset);
        var started = Stopwatch.GetTimestamp();
        RandomAccess.Write(_handle, data.Span, offset);
        _gate.Record(started);
        return ValueTask.CompletedTask;
    }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer)
    {
        // What the page cache holds is copied here; only the rest waits for the device on the thread pool.
        // AddRef: a view dropped meanwhile closes the handle, and its fd number must not be read after reuse.
        bool added = false;
        int done;
        try
        {
            _handle.DangerousAddRef(ref added);
            done = LinuxFile.ReadNoWait(_handle, buffer.Span, offset);
        }
        finally
        {
            if (added) _handle.DangerousRelease();
        }
        if (done == buffer.Length) return ValueTask.CompletedTask;
        return ReadSlowAsync(offset + Math.Max(done, 0), buffer[Math.Max(done, 0)..]);
    }

    private async ValueTask ReadSlowAsync(long offset, Memory<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            var n = await RandomAccess.ReadAsync(_handle, buffer, offset).ConfigureAwait(false);
            if (n == 0) throw new IOException($"saved-copy file {Path} ends before offset {offset}");
            buffer = buffer[n..];
            offset += n;
        }
    }

    public void Release()
    {
        if (Volatile.Read(ref _closed) == 0) RandomAccess.SetLength(_handle, HeaderBytes);
    }

    public void Delete()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        _handle.Dispose();
        try { File.Delete(Path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Closes without removing: the next start finds the file and cleans up after the view.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0) _handle.Dispose();
    }
}
