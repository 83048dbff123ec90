namespace DmEra.Metadata.PersistentData;

/// <summary>
/// A metadata device seen as 4096-byte blocks. The durability contract is the one persistent-data
/// relies on: a block written before <see cref="Flush"/> returns is on stable storage when it returns;
/// writes not yet covered by a flush may be lost or reordered. Implementations: a file or block device,
/// memory, and (for crash simulation) a recording device.
/// </summary>
public interface IMetadataDevice : IDisposable
{
    /// <summary>Whole 4096-byte blocks on the device; a trailing partial block is not addressable.</summary>
    long BlockCount { get; }

    /// <summary>True when the device was opened read-only; writes then throw.</summary>
    bool IsReadOnly { get; }

    void Read(long block, Span<byte> buffer);

    void Write(long block, ReadOnlySpan<byte> buffer);

    /// <summary>
    /// Writes consecutive blocks starting at <paramref name="firstBlock"/>, one 4096-byte buffer each. A file
    /// does it in one pwritev; one call or many makes no difference to what a crash may leave.
    /// </summary>
    void Write(long firstBlock, IReadOnlyList<ReadOnlyMemory<byte>> blocks)
    {
        for (var i = 0; i < blocks.Count; i++) Write(firstBlock + i, blocks[i].Span);
    }

    /// <summary>The durability barrier (fdatasync on a file).</summary>
    void Flush();
}

public static class MetadataBlock
{
    public const int Size = 4096;
    public const int SizeSectors = Size / 512;
}
