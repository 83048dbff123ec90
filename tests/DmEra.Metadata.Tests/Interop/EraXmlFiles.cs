using DmEra.Metadata.Era.Xml;

namespace DmEra.Metadata.Tests.Interop;

/// <summary>File-to-file helpers: the path from one tool's output through our reader and writer.</summary>
public static class EraXmlFiles
{
    /// <summary>Reads era XML at <paramref name="inputPath"/> with <see cref="EraXmlReader"/> into an <see cref="EraXmlWriter"/> writing <paramref name="outputPath"/>.</summary>
    public static void Rewrite(string inputPath, string outputPath)
    {
        using var input = new FileStream(inputPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using var output = new FileStream(outputPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        using var text = EraXmlWriter.CreateStreamWriter(output);
        EraXmlReader.Read(input, new EraXmlWriter(text));
    }

    /// <summary>Parses era_invalidate output held in a string.</summary>
    public static IReadOnlyList<BlockRange> Blocks(string invalidateXml) =>
        InvalidateXml.ParseBlocks(new StringReader(invalidateXml));

    /// <summary>Writes <paramref name="ranges"/> with <see cref="InvalidateXmlWriter"/> and returns the text.</summary>
    public static string WriteInvalidate(IEnumerable<BlockRange> ranges)
    {
        var text = new StringWriter();
        InvalidateXmlWriter.Write(text, ranges);
        return text.ToString();
    }
}
