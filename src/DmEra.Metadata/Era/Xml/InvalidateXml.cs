using System.Xml;

namespace DmEra.Metadata.Era.Xml;

/// <summary>Reads <c>era_invalidate</c> output (C++ <c>end = "E"</c> spacing or ours).</summary>
public static class InvalidateXml
{
    /// <summary>
    /// The blocks listed, as ranges sorted by start with overlapping and adjacent ranges merged, so two
    /// outputs that name the same block set compare equal however each split its runs.
    /// </summary>
    /// <exception cref="EraXmlException">Not a <c>&lt;blocks&gt;</c> document of <c>block</c>/<c>range</c>.</exception>
    public static IReadOnlyList<BlockRange> ParseBlocks(TextReader input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var ranges = new List<BlockRange>();
        var settings = EraXmlReader.Settings(new NameTable());
        settings.CloseInput = false;
        using var xml = XmlReader.Create(input, settings);
        var lines = (IXmlLineInfo)xml;
        EraXmlException Error(string problem) => new(lines.LineNumber, lines.LinePosition, problem);

        var sawRoot = false;
        try
        {
            while (xml.Read())
            {
                if (xml.NodeType != XmlNodeType.Element) continue;
                if (xml.Depth == 0)
                {
                    if (xml.Name != "blocks") throw Error($"expected <blocks> as the document element, found <{xml.Name}>");
                    sawRoot = true;
                    continue;
                }
                if (xml.Depth > 1) throw Error($"<{xml.Name}> nested inside <block> or <range>");
                switch (xml.Name)
                {
                    case "block":
                        var block = Number(xml, "block", "block", Error);
                        ranges.Add(new BlockRange(block, block + 1));
                        break;
                    case "range":
                        var begin = Number(xml, "range", "begin", Error);
                        var end = Number(xml, "range", "end", Error);
                        if (end < begin) throw Error($"<range> end {end} is below begin {begin}");
                        if (end > begin) ranges.Add(new BlockRange(begin, end));
                        break;
                    default:
                        throw Error($"unexpected <{xml.Name}> inside <blocks>: only <block> and <range> may appear there");
                }
            }
        }
        catch (XmlException e)
        {
            throw EraXmlReader.Malformed(e);
        }
        if (!sawRoot) throw new EraXmlException(0, 0, "the document has no <blocks> element");
        return Normalise(ranges);
    }

    /// <summary>Sorts and merges overlapping or touching ranges.</summary>
    public static IReadOnlyList<BlockRange> Normalise(IEnumerable<BlockRange> ranges)
    {
        var sorted = ranges.Where(r => r.End > r.Begin).OrderBy(r => r.Begin).ToList();
        var merged = new List<BlockRange>(sorted.Count);
        foreach (var r in sorted)
        {
            if (merged.Count > 0 && r.Begin <= merged[^1].End)
                merged[^1] = merged[^1] with { End = Math.Max(merged[^1].End, r.End) };
            else
                merged.Add(r);
        }
        return merged;
    }

    private static long Number(XmlReader xml, string element, string attribute, Func<string, EraXmlException> error)
    {
        var text = xml.GetAttribute(attribute) ?? throw error($"<{element}> has no {attribute} attribute");
        // A range end can be 2^32 (one past the last u32 block), so parse wider than u32.
        if (!long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value)
            || value > (long)uint.MaxValue + 1)
            throw error($"<{element}> {attribute}=\"{text}\" is not a block number");
        return value;
    }
}
