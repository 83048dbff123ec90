namespace DmEra.Storage.Devices;

/// <summary>
/// A byte-addressed device: the origin an era volume tracks (every read and write goes to it at the same
/// offset; dm-era is linear). The family: <see cref="FileOriginDevice"/> (a file or block device),
/// <see cref="MemoryOriginDevice"/>, <see cref="NullOriginDevice"/> (stores nothing) and
/// <see cref="FailingOriginDevice"/> (injects EIO). Calls may run concurrently; an implementation must allow
/// positional I/O from many callers at once (one shared handle with pread/pwrite, as the kernel's block
/// layer would).
/// <para>Durability promise: a write that completed is visible to every later read, but survives a crash
/// only once a <see cref="FlushAsync"/> that started after it has returned; until then a crash may keep it,
/// lose it, or keep part of it. A failed call (an exception, EIO) promises nothing about the range.</para>
/// </summary>
public interface IOriginDevice : IDisposable
{
    /// <summary>The size in bytes, read once at activation (a grown origin is picked up at the next one).</summary>
    long SizeBytes { get; }

    ValueTask ReadAsync(long offset, Memory<byte> buffer);

    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data);

    /// <summary>The range's contents become unspecified (a hole where the device can punch one).</summary>
    ValueTask TrimAsync(long offset, long length);

    /// <summary>The range reads back as zeroes afterwards.</summary>
    ValueTask WriteZeroesAsync(long offset, long length);

    /// <summary>The durability barrier: every write that completed before the call is on stable storage when it returns.</summary>
    ValueTask FlushAsync();
}
