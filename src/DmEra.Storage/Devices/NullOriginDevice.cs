namespace DmEra.Storage.Devices;

/// <summary>
/// A device of any size that stores nothing and reads zeroes (tests and benchmarks that need huge sizes,
/// not data). Every flush "succeeds": nothing was kept, so nothing can be lost.
/// </summary>
public sealed class NullOriginDevice(long sizeBytes) : IOriginDevice
{
    private int _writes;

    public long SizeBytes => sizeBytes;

    /// <summary>Writes, trims and zeroings accepted so far.</summary>
    public int Writes => Volatile.Read(ref _writes);

    public ValueTask ReadAsync(long offset, Memory<byte> buffer)
    {
        buffer.Span.Clear();
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data) => Accepted();

    public ValueTask TrimAsync(long offset, long length) => Accepted();

    public ValueTask WriteZeroesAsync(long offset, long length) => Accepted();

    public ValueTask FlushAsync() => ValueTask.CompletedTask;

    public void Dispose() { }

    private ValueTask Accepted()
    {
        Interlocked.Increment(ref _writes);
        return ValueTask.CompletedTask;
    }
}
