namespace DmEra.Metadata;

/// <summary>
/// Anything wrong with a metadata device or its contents, phrased for the person at the console:
/// which block, what was expected, what was found. Tools print <see cref="Exception.Message"/> and exit 1.
/// </summary>
public class MetadataException : Exception
{
    public MetadataException(string message) : base(message) { }
    public MetadataException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A block failed validation (checksum, self-recorded location, shape).</summary>
public sealed class CorruptBlockException : MetadataException
{
    public CorruptBlockException(long block, string kind, string problem)
        : base($"{kind} block {block}: {problem}")
    {
        Block = block;
        Kind = kind;
    }

    public long Block { get; }
    public string Kind { get; }
}

/// <summary>The metadata space map has no free block left (the kernel's -ENOSPC).</summary>
public sealed class MetadataSpaceExhaustedException : MetadataException
{
    public MetadataSpaceExhaustedException(long totalBlocks)
        : base($"metadata device is full: all {totalBlocks} metadata blocks are in use") { }
}
