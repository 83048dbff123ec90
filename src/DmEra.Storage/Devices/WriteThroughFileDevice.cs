using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;

namespace DmEra.Storage.Devices;

/// <summary>
/// A file whose every write is durable when it returns: opened with O_DIRECT, each write is one
/// pwritev2(RWF_DSYNC), which the kernel completes only once the bytes are on stable storage (a FUA write, or
/// a write and a cache flush). Made for the intent log, whose every append must be durable before it returns:
/// one system call instead of a write and an fdatasync, with no page cache between
/// (bench/results/firstwrite-2026-12-03e.md).
/// <para>Its promise is stronger than <see cref="IBlockDevice"/>'s and keeps it: a write that returned is
/// already durable, so <see cref="Flush"/> has nothing left to do and does nothing (a caller written against
/// the interface still calls it, and is right to). A crash may still tear a write in flight at sector
/// granularity, and two writes in flight together may land in either order.</para>
/// <para>O_DIRECT's rules are this device's: every call is whole 4 KiB blocks at a 4 KiB offset (what
/// <c>MetadataDevice</c> issues), and the bytes go through native buffers aligned to 4 KiB (one per concurrent
/// caller, kept for the next call), since a managed array has no such alignment and may move.</para>
/// </summary>
public sealed unsafe class WriteThroughFileDevice : IBlockDevice
{
    public const int Alignment = 4096;
    private const int EINVAL = 22;
    private const int EOPNOTSUPP = 95;
    private const int EINTR = 4;
    private const int EIO = 5;
    private readonly SafeFileHandle _handle;
    private readonly Stack<AlignedBuffer> _buffers = new();   // under its own lock: idle buffers
    private long _writes;
    private bool _disposed;

    private WriteThroughFileDevice(SafeFileHandle handle, string path)
    {
        _handle = handle;
        Path = path;
        SizeBytes = LinuxFile.SizeOf(handle);
    }

    public string Path { get; }
    public long SizeBytes { get; }

    /// <summary>Writes made since the open (the probe's included), each durable when it returned.</summary>
    public long Writes => Interlocked.Read(ref _writes);

    /// <summary>
    /// Turns O_DIRECT on for <paramref name="handle"/> (opened read-write, locked by its caller) and checks that
    /// an aligned read and an RWF_DSYNC write of block 0 (its own bytes written back) work. Returns the device,
    /// which then owns the handle; or null with the kernel's refusal (O_DIRECT or RWF_DSYNC unsupported there)
    /// in <paramref name="refusal"/>, the handle left as it came. Any other error throws.
    /// </summary>
    public static WriteThroughFileDevice? TryOf(SafeFileHandle handle, string path, out string? refusal)
    {
        refusal = null;
        var error = LinuxFile.SetDirect(handle, on: true);
        if (error != 0)
        {
            refusal = $"O_DIRECT refused ({ErrorName(error)})";
            return Refused(error, path, refusal);
        }
        var device = new WriteThroughFileDevice(handle, path);
        if (device.SizeBytes < Alignment) return device;
        var buffer = device.Rent(Alignment);
        try
        {
            error = device.ReadAligned(buffer.Pointer, Alignment, 0);
            if (error == 0) error = device.WriteAligned(buffer.Pointer, Alignment, 0);
            if (error == 0) Interlocked.Increment(ref device._writes);
        }
        finally { device.Return(buffer); }
        if (error == 0) return device;
        device.FreeBuffers();
        LinuxFile.SetDirect(handle, on: false);
        refusal = $"direct I/O with RWF_DSYNC refused ({ErrorName(error)})";
        return Refused(error, path, refusal);
    }

    /// <summary>Null where the filesystem cannot do it (the caller falls back); any other error is the file's and throws.</summary>
    private static WriteThroughFileDevice? Refused(int error, string path, string refusal) =>
        error is EINVAL or EOPNOTSUPP ? null : throw new IOException($"{path}: {refusal}");

    public void Read(long offset, Span<byte> buffer)
    {
        CheckAligned(offset, buffer.Length);
        var b = Rent(buffer.Length);
        try
        {
            var error = ReadAligned(b.Pointer, buffer.Length, offset);
            if (error != 0) throw new IOException($"read of {Path} at {offset} failed: {ErrorName(error)}");
            new Span<byte>(b.Pointer, buffer.Length).CopyTo(buffer);
        }
        finally { Return(b); }
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        CheckAligned(offset, data.Length);
        var b = Rent(data.Length);
        try
        {
            data.CopyTo(new Span<byte>(b.Pointer, data.Length));
            Written(WriteAligned(b.Pointer, data.Length, offset), offset);
        }
        finally { Return(b); }
    }

    /// <summary>The pieces, gathered into one aligned buffer, go in one pwritev2(RWF_DSYNC).</summary>
    public void Write(long offset, IReadOnlyList<ReadOnlyMemory<byte>> pieces)
    {
        var length = 0;
        foreach (var p in pieces) length += p.Length;
        CheckAligned(offset, length);
        var b = Rent(length);
        try
        {
            var at = 0;
            foreach (var p in pieces)
            {
                p.Span.CopyTo(new Span<byte>(b.Pointer + at, p.Length));
                at += p.Length;
            }
            Written(WriteAligned(b.Pointer, length, offset), offset);
        }
        finally { Return(b); }
    }

    /// <summary>Nothing to do: every write was durable when it returned.</summary>
    public void Flush() { }

    public void Dispose()
    {
        lock (_buffers)
        {
            if (_disposed) return;
            _disposed = true;
        }
        FreeBuffers();
        _handle.Dispose();
    }

    private void Written(int error, long offset)
    {
        if (error != 0) throw new IOException($"write of {Path} at {offset} (O_DIRECT, RWF_DSYNC) failed: {ErrorName(error)}");
        Interlocked.Increment(ref _writes);
    }

    /// <summary>pread until <paramref name="length"/> bytes are in; 0 or the errno. Past the end of the file reads zeroes.</summary>
    private int ReadAligned(byte* p, int length, long offset) => Transfer(p, length, offset, write: false);

    /// <summary>pwritev2(RWF_DSYNC) until every byte is written; 0 or the errno.</summary>
    private int WriteAligned(byte* p, int length, long offset) => Transfer(p, length, offset, write: true);

    private int Transfer(byte* p, int length, long offset, bool write)
    {
        bool added = false;
        _handle.DangerousAddRef(ref added);
        try
        {
            var done = 0;
            while (done < length)
            {
                var n = write
                    ? LinuxFile.WriteDsync(_handle, p + done, length - done, offset + done)
                    : LinuxFile.ReadAt(_handle, p + done, length - done, offset + done);
                if (n < 0)
                {
                    var error = Marshal.GetLastPInvokeError();
                    if (error == EINTR) continue;
                    return error;
                }
                if (n == 0)
                {
                    if (write) return EIO;   // no progress: never loop on it
                    new Span<byte>(p + done, length - done).Clear();
                    break;
                }
                done += (int)n;
            }
            return 0;
        }
        finally { if (added) _handle.DangerousRelease(); }
    }

    private static void CheckAligned(long offset, int length)
    {
        if (offset % Alignment != 0 || length % Alignment != 0)
            throw new ArgumentException($"direct I/O takes whole {Alignment}-byte blocks: {length} bytes at {offset}");
    }

    private AlignedBuffer Rent(int length)
    {
        AlignedBuffer? idle = null;
        lock (_buffers)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_buffers.Count > 0) idle = _buffers.Pop();
        }
        if (idle is { } b && b.Length >= length) return b;
        idle?.Free();
        return AlignedBuffer.Allocate(Math.Max(length, Alignment));
    }

    private void Return(AlignedBuffer buffer)
    {
        lock (_buffers)
        {
            if (!_disposed)
            {
                _buffers.Push(buffer);
                return;
            }
        }
        buffer.Free();
    }

    private void FreeBuffers()
    {
        lock (_buffers)
            while (_buffers.Count > 0) _buffers.Pop().Free();
    }

    /// <summary>The errno's name (EINVAL, EIO), as the kernel's documentation spells it.</summary>
    private static string ErrorName(int errno)
    {
        try
        {
            return NativeConvert.ToErrno(errno).ToString();
        }
        catch (ArgumentOutOfRangeException)
        {
            return $"errno {errno}";
        }
    }

    /// <summary>Native memory aligned for O_DIRECT: it never moves, so the kernel may DMA straight from it.</summary>
    private sealed class AlignedBuffer
    {
        private AlignedBuffer(byte* pointer, int length)
        {
            Pointer = pointer;
            Length = length;
        }

        public byte* Pointer { get; private set; }
        public int Length { get; }

        public static AlignedBuffer Allocate(int length) =>
            new((byte*)NativeMemory.AlignedAlloc((nuint)length, Alignment), length);

        public void Free()
        {
            if (Pointer == null) return;
            NativeMemory.AlignedFree(Pointer);
            Pointer = null;
        }
    }
}
