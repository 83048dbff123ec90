namespace DmEra.Metadata.Era.Xml;

/// <summary>
/// Rejects input that cannot be XML before an XML parser sees it. The common mistake is handing a
/// binary metadata device to restore (or a dump to the wrong tool); a 16 GiB device should be refused
/// after one read, with a message that says what it looks like, not after a parser error deep inside.
/// </summary>
internal static class XmlInputSniffer
{
    /// <summary>Enough to get past a BOM, an XML declaration's leading whitespace and blank lines.</summary>
    private const int SniffBytes = 512;

    /// <summary>
    /// Reads the start of <paramref name="input"/>, checks that its first non-blank character is
    /// '&lt;', and returns a stream that yields the whole input again (sniffed bytes included), so
    /// non-seekable inputs such as stdin work.
    /// </summary>
    public static Stream Sniff(Stream input)
    {
        var head = new byte[SniffBytes];
        var count = 0;
        while (count < head.Length)
        {
            var read = input.Read(head, count, head.Length - count);
            if (read == 0) break;
            count += read;
        }

        var i = 0;
        if (count >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF) i = 3; // UTF-8 BOM
        while (i < count && head[i] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') i++;

        if (count == 0)
            throw new EraXmlException(0, 0, "input is empty, expected XML starting with <superblock>");
        if (i == count && count < head.Length)
            throw new EraXmlException(0, 0, "input holds only blank characters, expected XML starting with <superblock>");
        if (i < count && head[i] != (byte)'<')
            throw new EraXmlException(0, 0, Describe(head.AsSpan(0, count), i));

        return new PrefixedStream(head, count, input);
    }

    private static string Describe(ReadOnlySpan<byte> head, int at)
    {
        var b = head[at];
        var looksBinary = head.IndexOf((byte)0) >= 0 || b < 0x20 || b >= 0x7F;
        return looksBinary
            ? $"input is not XML: it starts with byte 0x{b:X2} and holds binary data (binary metadata? this needs the XML that era_dump writes)"
            : $"input is not XML: it starts with '{(char)b}', expected '<'";
    }
}
