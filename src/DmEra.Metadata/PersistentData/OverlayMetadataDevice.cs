using DmEra.Storage.Devices;

namespace DmEra.Metadata.PersistentData;

/// <summary>
/// A read-only device seen through an in-memory copy-on-write layer: a tool can replay an intent log into
/// the metadata and read the result without writing a byte of the file. Disposing it leaves the inner
/// device to its owner.
/// </summary>
public sealed class OverlayMetadataDevice(MetadataDevice inner) : IBlockDevice
{
    private readonly Dictionary<long, byte[]> _overlay = new();

    public long SizeBytes => inner.BlockCount * MetadataBlock.Size;

    public static implicit operator MetadataDevice(OverlayMetadataDevice device) => new(device);

    public void Read(long offset, Span<byte> buffer)
    {
        var block = MetadataBlock.At(offset, buffer.Length);
        if (_overlay.TryGetValue(block, out var data)) data.CopyTo(buffer);
        else inner.Read(block, buffer);
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer) =>
        _overlay[MetadataBlock.At(offset, buffer.Length)] = buffer.ToArray();   // the view over it checked the bounds

    public void Flush() { }

    public void Dispose() { }
}
