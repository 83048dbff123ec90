namespace DmEra.Storage.Devices;

/// <summary>
/// Wraps a device and fails the calls it is told to with an <see cref="IOException"/>, as pwrite(2) or
/// fdatasync(2) returning EIO would (Garnet's fault-injecting device is the model). A failed call does not
/// reach the inner device. Reads are never failed: dm-era's promise is about writes and their durability.
/// </summary>
public sealed class FailingOriginDevice(IOriginDevice inner) : IOriginDevice
{
    /// <summary>Fails a write, trim or write-zeroes over (offset, length) when this returns true.</summary>
    public Func<long, long, bool>? FailWrite { get; set; }

    /// <summary>Fails every flush while true.</summary>
    public bool FailFlush { get; set; }

    public IOriginDevice Inner => inner;
    public long SizeBytes => inner.SizeBytes;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer) => inner.ReadAsync(offset, buffer);

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data) =>
        Fails(offset, data.Length) ? Eio("write", offset) : inner.WriteAsync(offset, data);

    public ValueTask TrimAsync(long offset, long length) =>
        Fails(offset, length) ? Eio("trim", offset) : inner.TrimAsync(offset, length);

    public ValueTask WriteZeroesAsync(long offset, long length) =>
        Fails(offset, length) ? Eio("write-zeroes", offset) : inner.WriteZeroesAsync(offset, length);

    public ValueTask FlushAsync() =>
        FailFlush ? ValueTask.FromException(new IOException("injected EIO on origin flush (fdatasync)")) : inner.FlushAsync();

    public void Dispose() => inner.Dispose();

    private bool Fails(long offset, long length) => FailWrite?.Invoke(offset, length) == true;

    private static ValueTask Eio(string what, long offset) =>
        ValueTask.FromException(new IOException($"injected EIO on origin {what} at byte {offset}"));
}
