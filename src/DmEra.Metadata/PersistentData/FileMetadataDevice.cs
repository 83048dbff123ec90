using DmEra.Storage;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;

namespace DmEra.Metadata.PersistentData;

/// <summary>
/// A metadata file or block device, read and written with positional I/O. The durability barrier is
/// fdatasync(2): FileStream.Flush() only empties .NET's buffer and would make no promise at all.
/// </summary>
public enum DeviceLock
{
    Exclusive,
    Shared,
    None,
}

public sealed class FileMetadataDevice : IMetadataDevice
{
    private readonly SafeFileHandle _handle;

    private FileMetadataDevice(SafeFileHandle handle, string path, long bytes, bool readOnly)
    {
        _handle = handle;
        Path = path;
        BlockCount = bytes / MetadataBlock.Size;
        IsReadOnly = readOnly;
    }

    public string Path { get; }
    public long BlockCount { get; }
    public bool IsReadOnly { get; }

    /// <summary>
    /// Opens a metadata device. The lock is .NET's advisory flock: <see cref="DeviceLock.Exclusive"/>
    /// (LOCK_EX) for the daemon and writing tools, so a second opener is refused as the kernel's O_EXCL
    /// refuses one; <see cref="DeviceLock.Shared"/> (LOCK_SH) for tools that must not read live metadata;
    /// <see cref="DeviceLock.None"/> to read a live metadata snapshot beside the daemon.
    /// </summary>
    public static FileMetadataDevice Open(string path, bool writable, DeviceLock lockMode)
    {
        var exclusive = lockMode == DeviceLock.Exclusive;
        if (Directory.Exists(path))
            throw new MetadataException($"{path}: Not a block device or regular file");
        if (!File.Exists(path) && !IsBlockDevice(path))
            throw new MetadataException($"{path}: No such file or directory");
        SafeFileHandle handle;
        try
        {
            handle = lockMode == DeviceLock.None
                ? OpenUnlocked(path, writable)
                : File.OpenHandle(path, FileMode.Open, writable ? FileAccess.ReadWrite : FileAccess.Read,
                    exclusive ? FileShare.None : FileShare.ReadWrite);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new MetadataException($"{path}: permission denied", e);
        }
        catch (IOException e) when (lockMode != DeviceLock.None && e.Message.Contains("being used by another process", StringComparison.Ordinal))
        {
            throw new MetadataException($"{path}: in use by another process (is a dmera daemon serving it?); live metadata can only be read through a metadata snapshot", e);
        }
        catch (IOException e)
        {
            throw new MetadataException($"{path}: {e.Message}", e);
        }
        var bytes = DeviceLength(handle, path);
        return new FileMetadataDevice(handle, path, bytes, !writable);
    }

    public void Read(long block, Span<byte> buffer)
    {
        CheckRange(block);
        var offset = block * MetadataBlock.Size;
        var span = buffer[..MetadataBlock.Size];
        var done = 0;
        while (done < span.Length)
        {
            var n = RandomAccess.Read(_handle, span[done..], offset + done);
            if (n == 0) throw new MetadataException($"{Path}: short read at metadata block {block}");
            done += n;
        }
    }

    public void Write(long block, ReadOnlySpan<byte> buffer)
    {
        if (IsReadOnly) throw new InvalidOperationException($"{Path} was opened read-only");
        CheckRange(block);
        RandomAccess.Write(_handle, buffer[..MetadataBlock.Size], block * MetadataBlock.Size);
    }

    public void Write(long firstBlock, IReadOnlyList<ReadOnlyMemory<byte>> blocks)
    {
        if (IsReadOnly) throw new InvalidOperationException($"{Path} was opened read-only");
        if (blocks.Count == 0) return;
        CheckRange(firstBlock);
        CheckRange(firstBlock + blocks.Count - 1);
        foreach (var b in blocks)
            if (b.Length != MetadataBlock.Size) throw new ArgumentException("every buffer must be one metadata block", nameof(blocks));
        RandomAccess.Write(_handle, blocks, firstBlock * MetadataBlock.Size);
    }

    public void Flush()
    {
        if (IsReadOnly) return;
        var fd = (int)_handle.DangerousGetHandle();
        int r;
        do r = Syscall.fdatasync(fd);
        while (r < 0 && Stdlib.GetLastError() == Errno.EINTR);
        if (r < 0)
            throw new MetadataException($"{Path}: fdatasync failed: {Stdlib.GetLastError()}");
    }

    /// <summary>
    /// Allocates a sparse metadata file (as `truncate -s` or a zeroed file made by SetLength leaves it) by
    /// writing zeros into its holes, and makes that durable; returns the bytes written. A commit then only
    /// overwrites: it cannot run out of space on the filesystem halfway (a block device never could), and its
    /// fdatasync costs about half as much as one that also commits the filesystem's allocation
    /// (bench/flush/run.py: "into a hole" against "into a written block"). Block devices have no holes.
    /// </summary>
    public long AllocateHoles()
    {
        if (IsReadOnly || IsBlockDevice(Path)) return 0;
        var filled = LinuxFile.FillHoles(_handle, BlockCount * MetadataBlock.Size);   // a partial last block is never used
        if (filled == 0) return 0;
        Flush();
        // The zeros were cached in folios as large as the writes that filled them, which would make each
        // commit's 4 KiB block writes there cost several times more (see DiskFile.WritePieceBytes).
        LinuxFile.DontNeed(_handle, 0, 0);
        return filled;
    }

    public void Dispose() => _handle.Dispose();

    private void CheckRange(long block)
    {
        if ((ulong)block >= (ulong)BlockCount)
            throw new MetadataException($"metadata block {block} is beyond the end of {Path} ({BlockCount} blocks)");
    }

    /// <summary>open(2) without the flock .NET would add: reading a snapshot while the daemon holds LOCK_EX.</summary>
    private static SafeFileHandle OpenUnlocked(string path, bool writable)
    {
        var fd = Syscall.open(path, (writable ? OpenFlags.O_RDWR : OpenFlags.O_RDONLY) | OpenFlags.O_CLOEXEC);
        if (fd < 0) throw new IOException($"{path}: {Stdlib.GetLastError()}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    private static bool IsBlockDevice(string path) =>
        Syscall.stat(path, out var st) == 0 && (st.st_mode & FilePermissions.S_IFMT) == FilePermissions.S_IFBLK;

    /// <summary>Regular files report their length; block devices report 0 there, so ask lseek(SEEK_END).</summary>
    private static long DeviceLength(SafeFileHandle handle, string path)
    {
        var length = RandomAccess.GetLength(handle);
        if (length > 0) return length;
        var end = Syscall.lseek((int)handle.DangerousGetHandle(), 0, SeekFlags.SEEK_END);
        if (end < 0) throw new MetadataException($"{path}: cannot determine the device size");
        return end;
    }
}
