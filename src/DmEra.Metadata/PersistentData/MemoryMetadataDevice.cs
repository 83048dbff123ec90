namespace DmEra.Metadata.PersistentData;

/// <summary>A metadata device in memory, for tests and for building images before they are written out.</summary>
public sealed class MemoryMetadataDevice : IMetadataDevice
{
    private readonly byte[][] _blocks;

    public MemoryMetadataDevice(long blockCount)
    {
        if (blockCount <= 0 || blockCount > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(blockCount));
        _blocks = new byte[blockCount][];
    }

    public long BlockCount => _blocks.LongLength;
    public bool IsReadOnly => false;

    public void Read(long block, Span<byte> buffer)
    {
        CheckRange(block, buffer.Length);
        var data = _blocks[block];
        if (data is null) buffer[..MetadataBlock.Size].Clear();
        else data.CopyTo(buffer);
    }

    public void Write(long block, ReadOnlySpan<byte> buffer)
    {
        CheckRange(block, buffer.Length);
        var data = _blocks[block] ??= new byte[MetadataBlock.Size];
        buffer[..MetadataBlock.Size].CopyTo(data);
    }

    public void Flush() { }

    /// <summary>A copy of the device's current contents, as a crash right now would leave them.</summary>
    public MemoryMetadataDevice Clone()
    {
        var copy = new MemoryMetadataDevice(BlockCount);
        for (var i = 0; i < _blocks.Length; i++)
            if (_blocks[i] is { } b) copy._blocks[i] = (byte[])b.Clone();
        return copy;
    }

    public void Dispose() { }

    private void CheckRange(long block, int length)
    {
        if ((ulong)block >= (ulong)_blocks.LongLength)
            throw new MetadataException($"metadata block {block} is beyond the end of the device ({_blocks.LongLength} blocks)");
        if (length < MetadataBlock.Size)
            throw new ArgumentException("buffer smaller than a metadata block");
    }
}
