namespace DmEra.Storage.Devices;

/// <summary>
/// Wraps a device and fails the calls it is told to with an <see cref="IOException"/>, as pwrite(2) or
/// fdatasync(2) returning EIO would (Garnet's fault-injecting device is the model). A failed call does not
/// reach the inner device. Reads are never failed: dm-era's promise is about writes and their durability.
/// Like every wrapper it forwards each call as it came, synchronous or not.
/// </summary>
public sealed class FailingDevice(IBlockDevice inner) : IBlockDevice
{
    /// <summary>Fails a write, trim or write-zeroes over (offset, length) when this returns true.</summary>
    public Func<long, long, bool>? FailWrite { get; set; }

    /// <summary>Fails every flush while true.</summary>
    public bool FailFlush { get; set; }

    public IBlockDevice Inner => inner;
    public long SizeBytes => inner.SizeBytes;

    public void Read(long offset, Span<byte> buffer) => inner.Read(offset, buffer);

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (Fails(offset, data.Length)) throw Eio("write", offset);
        inner.Write(offset, data);
    }

    public void Write(long offset, IReadOnlyList<ReadOnlyMemory<byte>> pieces)
    {
        if (Fails(offset, pieces.Sum(p => (long)p.Length))) throw Eio("write", offset);
        inner.Write(offset, pieces);
    }

    public void Flush()
    {
        if (FailFlush) throw FlushEio();
        inner.Flush();
    }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer) => inner.ReadAsync(offset, buffer);

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data) =>
        Fails(offset, data.Length) ? ValueTask.FromException(Eio("write", offset)) : inner.WriteAsync(offset, data);

    public ValueTask TrimAsync(long offset, long length) =>
        Fails(offset, length) ? ValueTask.FromException(Eio("trim", offset)) : inner.TrimAsync(offset, length);

    public ValueTask WriteZeroesAsync(long offset, long length) =>
        Fails(offset, length) ? ValueTask.FromException(Eio("write-zeroes", offset)) : inner.WriteZeroesAsync(offset, length);

    public ValueTask FlushAsync() => FailFlush ? ValueTask.FromException(FlushEio()) : inner.FlushAsync();

    public void Dispose() => inner.Dispose();

    private bool Fails(long offset, long length) => FailWrite?.Invoke(offset, length) == true;

    private static IOException Eio(string what, long offset) => new($"injected EIO on {what} at byte {offset}");

    private static IOException FlushEio() => new("injected EIO on flush (fdatasync)");
}
