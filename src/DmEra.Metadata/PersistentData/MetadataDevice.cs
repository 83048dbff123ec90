using DmEra.Storage.Devices;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;

namespace DmEra.Metadata.PersistentData;

/// <summary>How <see cref="MetadataDevice.Open"/> locks a metadata file (.NET's advisory flock).</summary>
public enum DeviceLock
{
    Exclusive,
    Shared,
    None,
}

/// <summary>
/// A device (<see cref="IBlockDevice"/>, whose durability promise persistent-data relies on) seen as
/// 4096-byte metadata blocks, called synchronously from the one thread that owns the metadata: a block
/// written before <see cref="Flush"/> returns is on stable storage when it returns; blocks written since may
/// be lost, reordered or torn. This view checks bounds and read-only use; each block call is one call on the
/// device, with nothing between (no copy, no allocation).
/// </summary>
public sealed class MetadataDevice(IBlockDevice device, bool readOnly = false, string? path = null) : IDisposable
{
    /// <summary>The device underneath (a recording test device, a file, memory).</summary>
    public IBlockDevice Device => device;

    /// <summary>Where the blocks are, for messages.</summary>
    public string Path => path ?? "the device";

    /// <summary>Whole 4096-byte blocks on the device; a trailing partial block is not addressable.</summary>
    public long BlockCount { get; } = device.SizeBytes / MetadataBlock.Size;

    /// <summary>True when the device was opened read-only; writes then throw.</summary>
    public bool IsReadOnly => readOnly;

    /// <summary>A metadata device in memory, for tests and for building images before they are written out.</summary>
    public static MetadataDevice InMemory(long blockCount) =>
        blockCount is <= 0 or > int.MaxValue
            ? throw new ArgumentOutOfRangeException(nameof(blockCount))
            : new(new MemoryDevice(blockCount * MetadataBlock.Size));

    /// <summary>
    /// Opens a metadata file or block device. The lock is .NET's advisory flock: <see cref="DeviceLock.Exclusive"/>
    /// (LOCK_EX) for the daemon and writing tools, so a second opener is refused as the kernel's O_EXCL
    /// refuses one; <see cref="DeviceLock.Shared"/> (LOCK_SH) for tools that must not read live metadata;
    /// <see cref="DeviceLock.None"/> to read a live metadata snapshot beside the daemon.
    /// </summary>
    public static MetadataDevice Open(string path, bool writable, DeviceLock lockMode) =>
        new(FileDevice.Of(OpenHandle(path, writable, lockMode), path), readOnly: !writable, path);

    /// <summary>
    /// Opens a file read-write and exclusively (as <see cref="Open"/>) as a <see cref="WriteThroughFileDevice"/>:
    /// O_DIRECT, every write durable when it returns (pwritev2 RWF_DSYNC), <see cref="Flush"/> free. Where the
    /// filesystem refuses that, the file is opened as <see cref="Open"/> opens it (write, then fdatasync at
    /// <see cref="Flush"/>) and <paramref name="refusal"/> says what the kernel refused.
    /// </summary>
    public static MetadataDevice OpenWriteThrough(string path, out string? refusal)
    {
        var handle = OpenHandle(path, writable: true, DeviceLock.Exclusive);
        IBlockDevice device;
        try
        {
            device = (IBlockDevice?)WriteThroughFileDevice.TryOf(handle, path, out refusal) ?? FileDevice.Of(handle, path);
        }
        catch (IOException e)
        {
            handle.Dispose();
            throw new MetadataException(e.Message, e);
        }
        return new MetadataDevice(device, readOnly: false, path);
    }

    /// <summary>True when every write is durable as it returns (<see cref="OpenWriteThrough"/> got O_DIRECT), so <see cref="Flush"/> costs nothing.</summary>
    public bool IsWriteThrough => device is WriteThroughFileDevice;

    private static SafeFileHandle OpenHandle(string path, bool writable, DeviceLock lockMode)
    {
        var exclusive = lockMode == DeviceLock.Exclusive;
        if (Directory.Exists(path))
            throw new MetadataException($"{path}: Not a block device or regular file");
        if (!File.Exists(path) && !IsBlockDevice(path))
            throw new MetadataException($"{path}: No such file or directory");
        try
        {
            return lockMode == DeviceLock.None
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
    }

    public void Read(long block, Span<byte> buffer)
    {
        CheckRange(block);
        device.Read(block * MetadataBlock.Size, buffer[..MetadataBlock.Size]);
    }

    public void Write(long block, ReadOnlySpan<byte> buffer)
    {
        CheckWritable();
        CheckRange(block);
        device.Write(block * MetadataBlock.Size, buffer[..MetadataBlock.Size]);
    }

    /// <summary>
    /// Writes consecutive blocks starting at <paramref name="firstBlock"/>, one 4096-byte buffer each. A file
    /// does it in one pwritev; one call or many makes no difference to what a crash may leave.
    /// </summary>
    public void Write(long firstBlock, IReadOnlyList<ReadOnlyMemory<byte>> blocks)
    {
        CheckWritable();
        if (blocks.Count == 0) return;
        CheckRange(firstBlock);
        CheckRange(firstBlock + blocks.Count - 1);
        for (var i = 0; i < blocks.Count; i++)
            if (blocks[i].Length != MetadataBlock.Size) throw new ArgumentException("every buffer must be one metadata block", nameof(blocks));
        device.Write(firstBlock * MetadataBlock.Size, blocks);
    }

    /// <summary>The durability barrier (fdatasync on a file; nothing on a write-through device, whose writes are durable already).</summary>
    public void Flush()
    {
        if (!readOnly) device.Flush();
    }

    /// <summary>
    /// Allocates a sparse metadata file (as `truncate -s` or a zeroed file made by SetLength leaves it) by
    /// writing zeros into its holes, and makes that durable; returns the bytes written. A commit then only
    /// overwrites: it cannot run out of space on the filesystem halfway (a block device never could), and its
    /// fdatasync costs about half as much as one that also commits the filesystem's allocation
    /// (bench/flush/run.py: "into a hole" against "into a written block"). Block devices have no holes.
    /// </summary>
    public long AllocateHoles() =>
        readOnly || device is not FileDevice file || IsBlockDevice(file.Path)
            ? 0
            : file.AllocateHoles(BlockCount * MetadataBlock.Size);   // a partial last block is never used

    /// <summary>A copy of an in-memory device's current contents, as a crash right now would leave them.</summary>
    public MetadataDevice Clone() =>
        device is MemoryDevice memory ? new(memory.Clone()) : throw new NotSupportedException("only a metadata device in memory can be cloned");

    public void Dispose() => device.Dispose();

    private void CheckWritable()
    {
        if (readOnly) throw new InvalidOperationException($"{Path} was opened read-only");
    }

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
}

public static class MetadataBlock
{
    public const int Size = 4096;
    public const int SizeSectors = Size / 512;

    /// <summary>The block a device call for one whole block addresses (a device keyed by blocks implementing <see cref="IBlockDevice"/>).</summary>
    public static long At(long offset, int length) =>
        offset % Size == 0 && length == Size ? offset / Size : throw new ArgumentException($"not one metadata block: {length} bytes at {offset}");
}
