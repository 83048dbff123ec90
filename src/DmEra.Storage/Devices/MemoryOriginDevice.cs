namespace DmEra.Storage.Devices;

/// <summary>An origin in memory (tests, benchmarks). Concurrent I/O to disjoint ranges is safe, as on a disk.</summary>
public sealed class MemoryOriginDevice(long sizeBytes) : IOriginDevice
{
    private readonly byte[] _data = new byte[checked((int)sizeBytes)];

    public long SizeBytes => _data.LongLength;

    /// <summary>What the origin holds now (specs compare a backup view's reads with it).</summary>
    public ReadOnlySpan<byte> Contents => _data;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer)
    {
        _data.AsSpan(checked((int)offset), buffer.Length).CopyTo(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data)
    {
        data.Span.CopyTo(_data.AsSpan(checked((int)offset)));
        return ValueTask.CompletedTask;
    }

    public ValueTask TrimAsync(long offset, long length) => WriteZeroesAsync(offset, length);

    public ValueTask WriteZeroesAsync(long offset, long length)
    {
        _data.AsSpan(checked((int)offset), checked((int)length)).Clear();
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync() => ValueTask.CompletedTask;

    public void Dispose() { }
}
