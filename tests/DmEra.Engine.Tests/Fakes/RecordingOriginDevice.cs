using DmEra.Engine.Origin;

namespace DmEra.Engine.Tests.Fakes;

/// <summary>
/// An in-memory origin that logs each write, trim and zeroing as it is issued, together with the metadata
/// device's durable version at that instant: the ordering oracle compares the two.
/// </summary>
public sealed class RecordingOriginDevice(long sizeBytes, RecordingMetadataDevice metadata) : IOriginDevice
{
    private readonly MemoryOriginDevice _inner = new(sizeBytes);

    public long SizeBytes => _inner.SizeBytes;
    public MemoryOriginDevice Inner => _inner;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer) => _inner.ReadAsync(offset, buffer);

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data)
    {
        Record(offset, data.Length);
        return _inner.WriteAsync(offset, data);
    }

    public ValueTask TrimAsync(long offset, long length)
    {
        Record(offset, length);
        return _inner.TrimAsync(offset, length);
    }

    public ValueTask WriteZeroesAsync(long offset, long length)
    {
        Record(offset, length);
        return _inner.WriteZeroesAsync(offset, length);
    }

    public ValueTask FlushAsync()
    {
        metadata.Log.Add(OperationKind.OriginFlush, 0, 0, metadata.DurableVersion);
        return _inner.FlushAsync();
    }

    private void Record(long offset, long length)
    {
        lock (metadata.Log.Gate) metadata.Log.Add(OperationKind.OriginWrite, offset, length, metadata.DurableVersion);
    }

    public void Dispose() { }
}

/// <summary>An origin of any size that stores nothing (limits and metadata-space tests need huge sizes, not data).</summary>
public sealed class NullOriginDevice(long sizeBytes) : IOriginDevice
{
    public long SizeBytes => sizeBytes;
    public int Writes => Volatile.Read(ref _writes);
    private int _writes;
    public ValueTask ReadAsync(long offset, Memory<byte> buffer) { buffer.Span.Clear(); return ValueTask.CompletedTask; }
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data) { Interlocked.Increment(ref _writes); return ValueTask.CompletedTask; }
    public ValueTask TrimAsync(long offset, long length) { Interlocked.Increment(ref _writes); return ValueTask.CompletedTask; }
    public ValueTask WriteZeroesAsync(long offset, long length) { Interlocked.Increment(ref _writes); return ValueTask.CompletedTask; }
    public ValueTask FlushAsync() => ValueTask.CompletedTask;
    public void Dispose() { }
}
