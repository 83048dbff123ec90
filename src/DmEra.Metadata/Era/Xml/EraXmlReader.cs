using System.Globalization;
using System.Xml;

namespace DmEra.Metadata.Era.Xml;

/// <summary>
/// Streams era XML (what era_dump prints, or what a person writes for era_restore) into an
/// <see cref="IEraMetadataVisitor"/> without holding the document: memory stays constant for any
/// number of blocks.
/// </summary>
/// <remarks>
/// Accepts what C++ era_restore 0.9.0 accepts (<c>superblock</c>, <c>writeset</c>, <c>bit</c>,
/// <c>era_array</c>, <c>era</c>; text, comments and unknown attributes ignored), plus the Rust tools'
/// compact <c>&lt;marked block_begin len/&gt;</c>. Stricter than 0.9.0 where 0.9.0 crashes or writes
/// metadata that its own era_check and era_dump then reject:
/// <list type="bullet">
/// <item>a <c>bit</c> outside a writeset (era_restore 0.9.0 segfaults);</item>
/// <item>a writeset after the era array, a second era array, a repeated writeset era;</item>
/// <item>nr_blocks = 0 or nr_bits = 0 (restored, but era_check reports missing blocks/bits);</item>
/// <item>a negative number (0.9.0's lexical_cast turns "-1" into 4294967295).</item>
/// </list>
/// Out-of-range blocks are errors, as in 0.9.0 ("bitset index out of bounds (7 >= 4)",
/// "array_block index out of bounds"). Era values above current_era are accepted, as era_restore does;
/// era_check is what reports them. A superblock without <c>era_array</c> (legal for 0.9.0: all eras
/// stay 0) still produces <see cref="IEraMetadataVisitor.EraArrayBegin"/> and
/// <see cref="IEraMetadataVisitor.EraArrayEnd"/>, so consumers always see the same event order.
/// Writesets may come in any era order, as for era_restore.
/// </remarks>
public static class EraXmlReader
{
    /// <summary>Reads one era XML document from <paramref name="input"/>; does not close it.</summary>
    /// <exception cref="EraXmlException">The input is not XML, is malformed, or is not valid era XML.</exception>
    public static void Read(Stream input, IEraMetadataVisitor visitor)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(visitor);
        var sniffed = XmlInputSniffer.Sniff(input);
        using var xml = XmlReader.Create(sniffed, Settings(new NameTable()));
        new EraXmlParse(xml, visitor).Run();
    }

    internal static XmlReaderSettings Settings(XmlNameTable names) => new()
    {
        NameTable = names,
        // No DTDs: nothing legitimate needs one, and entity expansion is a memory bomb.
        DtdProcessing = DtdProcessing.Prohibit,
        XmlResolver = null,
        IgnoreComments = true,
        IgnoreWhitespace = true,
        IgnoreProcessingInstructions = true,
        CloseInput = false,
    };

    /// <summary>
    /// Turns an <see cref="XmlException"/> into a one-line <see cref="EraXmlException"/>; the
    /// framework's message repeats the line and position, which we print in front instead.
    /// </summary>
    internal static EraXmlException Malformed(XmlException e)
    {
        var message = e.Message;
        var cut = message.LastIndexOf(" Line ", StringComparison.Ordinal);
        if (cut > 0 && message.IndexOf("position", cut, StringComparison.Ordinal) > 0) message = message[..cut];
        message = message.Replace('\r', ' ').Replace('\n', ' ').TrimEnd();
        return new EraXmlException(e.LineNumber, e.LinePosition, $"malformed XML: {message}", e);
    }

    internal static bool TryParseU32(string? text, out uint value) =>
        // NumberStyles.None: digits only. No sign, no blanks, no hex, as a dump never has them.
        uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
}
