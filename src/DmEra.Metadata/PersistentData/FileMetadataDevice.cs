using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;

namespace DmEra.Metadata.PersistentData;

/// <summary>
/// A metadata file or block device, read and written with positional I/O. The durability barrier is
/// fdatasync(2): FileStream.Flush() only empties .NET's buffer and would make no promise at all.
/// </summary>
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
    /// Opens a metadata device. <paramref name="exclusive"/> takes .NET's advisory flock(LOCK_EX) so that
    /// a second daemon (or a writing tool) on the same file is refused, as the kernel's O_EXCL refuses a
    /// second opener of a block device; read-only tools pass false to read live metadata snapshots.
    /// </summary>
    public static FileMetadataDevice Open(string path, bool writable, bool exclusive)
    {
        if (Directory.Exists(path))
            throw new MetadataException($"{path}: Not a block device or regular file");
        if (!File.Exists(path) && !IsBlockDevice(path))
            throw new MetadataException($"{path}: No such file or directory");
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open,
                writable ? FileAccess.ReadWrite : FileAccess.Read,
                exclusive ? FileShare.None : FileShare.ReadWrite);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new MetadataException($"{path}: permission denied", e);
        }
        catch (IOException e) when (exclusive)
        {
            throw new MetadataException($"{path}: in use by another process (it is opened exclusively)", e);
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

    public void Dispose() => _handle.Dispose();

    private void CheckRange(long block)
    {
        if ((ulong)block >= (ulong)BlockCount)
            throw new MetadataException($"metadata block {block} is beyond the end of {Path} ({BlockCount} blocks)");
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
