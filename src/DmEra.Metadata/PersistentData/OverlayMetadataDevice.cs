namespace DmEra.Metadata.PersistentData;

/// <summary>
/// A read-only device seen through an in-memory copy-on-write layer: a tool can replay an intent log into
/// the metadata and read the result without writing a byte of the file. Disposing it leaves the inner
/// device to its owner.
/// </summary>
public sealed class OverlayMetadataDevice(IMetadataDevice inner) : IMetadataDevice
{
    private readonly Dictionary<long, byte[]> _overlay = new();

    public long BlockCount => inner.BlockCount;
    public bool IsReadOnly => false;

    public void Read(long block, Span<byte> buffer)
    {
        if (_overlay.TryGetValue(block, out var data)) data.CopyTo(buffer);
        else inner.Read(block, buffer);
    }

    public void Write(long block, ReadOnlySpan<byte> buffer)
    {
        if ((ulong)block >= (ulong)BlockCount)
            throw new MetadataException($"metadata block {block} is beyond the end of the device ({BlockCount} blocks)");
        _overlay[block] = buffer[..MetadataBlock.Size].ToArray();
    }

    public void Flush() { }

    public void Dispose() { }
}
