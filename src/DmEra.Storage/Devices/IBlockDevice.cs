namespace DmEra.Storage.Devices;

/// <summary>
/// A byte-addressed block device: the one contract under both the era volume's origin (asynchronous, on the
/// NBD sessions' threads) and its metadata (synchronous 4 KiB blocks on the metadata writer's pinned thread,
/// through <c>DmEra.Metadata.PersistentData.MetadataDevice</c>), as Garnet's <c>IDevice</c> is under its log
/// and checkpoints. The family: <see cref="FileDevice"/> (a file or block device), <see cref="WriteThroughFileDevice"/>
/// (O_DIRECT, every write durable as it returns: the intent log's), <see cref="MemoryDevice"/>,
/// <see cref="NullDevice"/> (any size, stores nothing) and <see cref="FailingDevice"/> (injects EIO).
/// <para>An implementation need only provide the synchronous calls; the asynchronous ones default to them and
/// complete at once (right for memory), failing as a faulted task. A device that can wait (a file) implements
/// both, and then each I/O is one interface call. A wrapper forwards every call as it came (relying on a
/// default would turn the inner device's asynchronous I/O into a blocking one). Calls may run concurrently
/// from many callers (positional I/O on one shared handle, as the kernel's block layer allows); concurrent
/// writes to overlapping ranges leave an unspecified mix of their bytes.</para>
/// <para>Durability promise. A write (or trim, or write-zeroes) that has returned is seen by every later
/// read, but survives a crash or power cut only once a <see cref="Flush"/> or <see cref="FlushAsync"/>
/// that started after the write returned has itself returned. Until then a crash may keep it, lose it, or
/// keep part of it: any subset of its 512-byte sectors may hold the new bytes and the rest the old (a torn
/// write), and unflushed writes may survive in any order. A flush promises nothing about writes still in
/// flight when it started. A call that failed (an exception, EIO) promises nothing about its range, and a
/// failed flush nothing about any write since the last flush that succeeded (after a failed fdatasync Linux
/// may drop the pages it could not write). I/O beyond <see cref="SizeBytes"/> is the caller's error.</para>
/// </summary>
public interface IBlockDevice : IDisposable
{
    /// <summary>The size in bytes, read once at open (a grown file is picked up at the next open).</summary>
    long SizeBytes { get; }

    void Read(long offset, Span<byte> buffer);

    void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>Writes the pieces back to back from <paramref name="offset"/> (a file does it in one pwritev).</summary>
    void Write(long offset, IReadOnlyList<ReadOnlyMemory<byte>> pieces)
    {
        foreach (var piece in pieces)
        {
            Write(offset, piece.Span);
            offset += piece.Length;
        }
    }

    /// <summary>The durability barrier (fdatasync on a file), on the caller's thread.</summary>
    void Flush();

    ValueTask ReadAsync(long offset, Memory<byte> buffer)
    {
        try
        {
            Read(offset, buffer.Span);
            return ValueTask.CompletedTask;
        }
        catch (Exception e)
        {
            return ValueTask.FromException(e);
        }
    }

    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data)
    {
        try
        {
            Write(offset, data.Span);
            return ValueTask.CompletedTask;
        }
        catch (Exception e)
        {
            return ValueTask.FromException(e);
        }
    }

    /// <summary>The range's contents become unspecified (a hole where the device can punch one).</summary>
    ValueTask TrimAsync(long offset, long length) => WriteZeroesAsync(offset, length);

    /// <summary>The range reads back as zeroes afterwards.</summary>
    ValueTask WriteZeroesAsync(long offset, long length)
    {
        try
        {
            ReadOnlySpan<byte> zeroes = stackalloc byte[512];
            for (var done = 0L; done < length; done += zeroes.Length)
                Write(offset + done, zeroes[..(int)Math.Min(zeroes.Length, length - done)]);
            return ValueTask.CompletedTask;
        }
        catch (Exception e)
        {
            return ValueTask.FromException(e);
        }
    }

    /// <summary>The durability barrier, without holding the caller's thread where the device can avoid it.</summary>
    ValueTask FlushAsync()
    {
        try
        {
            Flush();
            return ValueTask.CompletedTask;
        }
        catch (Exception e)
        {
            return ValueTask.FromException(e);
        }
    }
}
