namespace DmEra.Engine.Tests.Fakes;

/// <summary>
/// An in-memory origin that logs each write, trim and zeroing as it is issued, together with the metadata
/// device's durable version at that instant: the ordering oracle compares the two. Its asynchronous calls
/// are the contract's defaults over these synchronous ones (a trim is logged as the zeroing it is here).
/// </summary>
public sealed class RecordingOriginDevice(long sizeBytes, RecordingMetadataDevice metadata) : IBlockDevice
{
    private readonly MemoryDevice _inner = new(sizeBytes);

    public long SizeBytes => _inner.SizeBytes;
    public MemoryDevice Inner => _inner;

    public void Read(long offset, Span<byte> buffer) => _inner.Read(offset, buffer);

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        Record(offset, data.Length);
        _inner.Write(offset, data);
    }

    public ValueTask WriteZeroesAsync(long offset, long length)
    {
        Record(offset, length);
        return _inner.WriteZeroesAsync(offset, length);
    }

    public void Flush()
    {
        metadata.Log.Add(OperationKind.OriginFlush, 0, 0, metadata.DurableVersion);
        _inner.Flush();
    }

    private void Record(long offset, long length)
    {
        lock (metadata.Log.Gate) metadata.Log.Add(OperationKind.OriginWrite, offset, length, metadata.DurableVersion);
    }

    public void Dispose() { }
}
