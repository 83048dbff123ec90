namespace DmEra.Metadata.Era.Xml;

/// <summary>
/// Era or invalidate XML that cannot be read: not XML at all, badly formed, or well formed but not the
/// shape era_restore accepts. The message is one line and names the line and column of the problem, so
/// a person with a text editor can find it.
/// </summary>
public sealed class EraXmlException : MetadataException
{
    public EraXmlException(int line, int position, string problem)
        : base(line > 0 ? $"era XML line {line}, column {position}: {problem}" : $"era XML: {problem}")
    {
        Line = line;
        Position = position;
    }

    public EraXmlException(int line, int position, string problem, Exception inner)
        : base(line > 0 ? $"era XML line {line}, column {position}: {problem}" : $"era XML: {problem}", inner)
    {
        Line = line;
        Position = position;
    }

    /// <summary>1-based line of the problem, 0 when unknown.</summary>
    public int Line { get; }

    /// <summary>1-based column of the problem, 0 when unknown.</summary>
    public int Position { get; }
}
