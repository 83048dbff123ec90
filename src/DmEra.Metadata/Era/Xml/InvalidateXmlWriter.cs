namespace DmEra.Metadata.Era.Xml;

/// <summary>
/// Writes the <c>era_invalidate</c> result: <c>&lt;blocks&gt;</c> holding a
/// <c>&lt;block block="N"/&gt;</c> per lone block and a <c>&lt;range begin="B" end = "E"/&gt;</c>
/// (half-open) per longer run, two-space indent, "\n" after every line: byte for byte what the
/// installed era_invalidate (C++ 0.9.0) prints.
/// </summary>
/// <remarks>
/// Blocks and ranges arrive in ascending order and adjacent ones are merged, so callers can feed
/// single blocks from a bitmap walk and get era_invalidate's runs. The blanks around '=' in
/// <c>end = "E"</c> are C++ 0.9.0's; we copy them so scripts that compare our output with the real
/// tool's (or parse it with the same regex, as the device-mapper test suite does) see no difference. The header is written by the constructor and the footer
/// by <see cref="Complete"/>; the caller owns the <see cref="TextWriter"/>.
/// </remarks>
public sealed class InvalidateXmlWriter
{
    private readonly TextWriter _output;
    private readonly char[] _line = new char[64];
    private long _runBegin = -1;
    private long _runEnd = -1;
    private bool _completed;

    public InvalidateXmlWriter(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
        _output.Write("<blocks>\n");
    }

    /// <summary>Writes a whole block list: <paramref name="ranges"/> ascending, adjacent ones merged.</summary>
    public static void Write(TextWriter output, IEnumerable<BlockRange> ranges)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        var writer = new InvalidateXmlWriter(output);
        foreach (var range in ranges)
        {
            if (range.Begin < 0 || range.Begin > uint.MaxValue)
                throw new ArgumentOutOfRangeException(nameof(ranges), range, "a range must begin at a u32 block number");
            writer.AddRange((uint)range.Begin, range.End);
        }
        writer.Complete();
    }

    /// <summary>Adds one block; it must not be below anything added before.</summary>
    public void Add(uint block) => AddRange(block, (long)block + 1);

    /// <summary>Adds blocks <c>[begin, end)</c>; an empty range is ignored.</summary>
    public void AddRange(uint begin, long end)
    {
        if (_completed) throw new InvalidOperationException("the block list is already complete");
        if (end > (long)uint.MaxValue + 1) throw new ArgumentOutOfRangeException(nameof(end), end, "past the last possible era block");
        if (end <= begin) return;
        if (begin < _runEnd)
            throw new ArgumentException($"blocks must ascend: [{begin},{end}) overlaps or precedes a block already added (below {_runEnd})", nameof(begin));

        if (begin == _runEnd)
        {
            _runEnd = end;
            return;
        }
        WriteRun();
        _runBegin = begin;
        _runEnd = end;
    }

    /// <summary>Writes the last run and <c>&lt;/blocks&gt;</c>.</summary>
    public void Complete()
    {
        if (_completed) return;
        WriteRun();
        _output.Write("</blocks>\n");
        _completed = true;
    }

    private void WriteRun()
    {
        if (_runBegin < 0) return;
        var line = _line.AsSpan();
        int n;
        if (_runEnd - _runBegin == 1)
        {
            n = Append(line, 0, "  <block block=\"");
            n = Append(line, n, _runBegin);
        }
        else
        {
            n = Append(line, 0, "  <range begin=\"");
            n = Append(line, n, _runBegin);
            n = Append(line, n, "\" end = \"");
            n = Append(line, n, _runEnd);
        }
        n = Append(line, n, "\"/>\n");
        _output.Write(_line, 0, n);
        _runBegin = -1;
    }

    private static int Append(Span<char> line, int at, string text)
    {
        text.AsSpan().CopyTo(line[at..]);
        return at + text.Length;
    }

    private static int Append(Span<char> line, int at, long value)
    {
        value.TryFormat(line[at..], out var written, provider: System.Globalization.CultureInfo.InvariantCulture);
        return at + written;
    }
}
