namespace DmEra.Engine.Tests.Fakes;

/// <summary>One origin shared by successive volumes (each volume disposes its origin at stop).</summary>
internal sealed class SharedOrigin(MemoryOriginDevice inner) : IOriginDevice
{
    public long SizeBytes => inner.SizeBytes;
    public ValueTask ReadAsync(long offset, Memory<byte> buffer) => inner.ReadAsync(offset, buffer);
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data) => inner.WriteAsync(offset, data);
    public ValueTask TrimAsync(long offset, long length) => inner.TrimAsync(offset, length);
    public ValueTask WriteZeroesAsync(long offset, long length) => inner.WriteZeroesAsync(offset, length);
    public ValueTask FlushAsync() => inner.FlushAsync();
    public void Dispose() { }
}
