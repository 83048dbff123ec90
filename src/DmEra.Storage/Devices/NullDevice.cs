namespace DmEra.Storage.Devices;

/// <summary>
/// A device of any size that stores nothing and reads zeroes (tests and benchmarks that need huge sizes,
/// not data). Every flush "succeeds": nothing was kept, so nothing can be lost.
/// </summary>
public sealed class NullDevice(long sizeBytes) : IBlockDevice
{
    private int _writes;

    public long SizeBytes => sizeBytes;

    /// <summary>Writes, trims and zeroings accepted so far.</summary>
    public int Writes => Volatile.Read(ref _writes);

    public void Read(long offset, Span<byte> buffer) => buffer.Clear();

    public void Write(long offset, ReadOnlySpan<byte> data) => Interlocked.Increment(ref _writes);

    public ValueTask WriteZeroesAsync(long offset, long length)
    {
        Interlocked.Increment(ref _writes);
        return ValueTask.CompletedTask;
    }

    public void Flush() { }

    public void Dispose() { }
}
