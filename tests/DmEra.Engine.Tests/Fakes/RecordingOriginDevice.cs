using DmEra.Storage.Devices;

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
