namespace DmEra.Metadata.Era.Xml;

/// <summary>
/// Writes era metadata events as the XML that C++ <c>era_dump</c> 0.9.0 prints, byte for byte:
/// two-space indentation, attributes in a fixed order, double quotes, "\n" after every element
/// (also after the last), no XML declaration. The same elements serve the plain and the
/// <c>--logical</c> dump; what differs is which events the dumper sends.
/// </summary>
/// <remarks>
/// A dump of a 2^31-block device is billions of lines, so each line is assembled in one reusable
/// char buffer and handed to the <see cref="TextWriter"/> in one call, with no string per element.
/// Give it a buffered writer (<see cref="CreateStreamWriter"/>); the caller owns and disposes it.
/// <see cref="WritesetMarked"/> writes the Rust tools' compact <c>&lt;marked&gt;</c> element, which
/// era_dump 0.9.0 never prints and era_restore 0.9.0 rejects ("unknown tag type").
/// </remarks>
public sealed class EraXmlWriter : IEraMetadataVisitor
{
    /// <summary>Large enough for any line with u32 numbers; only the superblock line can be longer (uuid).</summary>
    private const int LineCapacity = 96;

    private readonly TextWriter _output;
    private readonly char[] _line = new char[LineCapacity];

    public EraXmlWriter(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
    }

    /// <summary>A UTF-8 (no BOM) writer with a buffer big enough that dumps are not syscall-bound.</summary>
    public static StreamWriter CreateStreamWriter(Stream stream, bool leaveOpen = false) =>
        new(stream, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false), bufferSize: 1 << 16, leaveOpen)
        {
            NewLine = "\n",
        };

    public void SuperblockBegin(string uuid, uint blockSize, uint nrBlocks, uint currentEra)
    {
        ArgumentNullException.ThrowIfNull(uuid);
        // era_dump 0.9.0 always prints uuid="" (the restorer never stores it); escape anyway so
        // whatever a caller passes stays well-formed.
        _output.Write("<superblock uuid=\"");
        WriteEscaped(uuid);
        var n = 0;
        n = Append(n, "\" block_size=\"");
        n = Append(n, blockSize);
        n = Append(n, "\" nr_blocks=\"");
        n = Append(n, nrBlocks);
        n = Append(n, "\" current_era=\"");
        n = Append(n, currentEra);
        n = Append(n, "\">\n");
        Flush(n);
    }

    public void WritesetBegin(uint era, uint nrBits)
    {
        var n = Append(0, "  <writeset era=\"");
        n = Append(n, era);
        n = Append(n, "\" nr_bits=\"");
        n = Append(n, nrBits);
        n = Append(n, "\">\n");
        Flush(n);
    }

    public void WritesetBit(uint block, bool value)
    {
        var n = Append(0, "    <bit block=\"");
        n = Append(n, block);
        n = Append(n, value ? "\" value=\"true\"/>\n" : "\" value=\"false\"/>\n");
        Flush(n);
    }

    public void WritesetMarked(uint blockBegin, uint length)
    {
        var n = Append(0, "    <marked block_begin=\"");
        n = Append(n, blockBegin);
        n = Append(n, "\" len=\"");
        n = Append(n, length);
        n = Append(n, "\"/>\n");
        Flush(n);
    }

    public void WritesetEnd() => _output.Write("  </writeset>\n");

    public void EraArrayBegin() => _output.Write("  <era_array>\n");

    public void Era(uint block, uint era)
    {
        var n = Append(0, "    <era block=\"");
        n = Append(n, block);
        n = Append(n, "\" era=\"");
        n = Append(n, era);
        n = Append(n, "\"/>\n");
        Flush(n);
    }

    public void EraArrayEnd() => _output.Write("  </era_array>\n");

    public void SuperblockEnd() => _output.Write("</superblock>\n");

    private int Append(int at, string text)
    {
        text.AsSpan().CopyTo(_line.AsSpan(at));
        return at + text.Length;
    }

    private int Append(int at, uint value)
    {
        value.TryFormat(_line.AsSpan(at), out var written, provider: System.Globalization.CultureInfo.InvariantCulture);
        return at + written;
    }

    private void Flush(int length) => _output.Write(_line, 0, length);

    private void WriteEscaped(string text)
    {
        foreach (var c in text)
        {
            switch (c)
            {
                case '&': _output.Write("&amp;"); break;
                case '<': _output.Write("&lt;"); break;
                case '>': _output.Write("&gt;"); break;
                case '"': _output.Write("&quot;"); break;
                default: _output.Write(c); break;
            }
        }
    }
}
