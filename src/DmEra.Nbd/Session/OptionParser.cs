using System.Buffers.Binary;
using System.Text;

namespace DmEra.Nbd.Session;

/// <summary>
/// Parses option payloads that are already in memory (their length was checked against the option limit).
/// Every inner length is checked against the bytes that remain before it is used, so inconsistent inner and
/// outer lengths (CVE-2022-26495) fail as <see cref="FormatException"/>, answered with ERR_INVALID.
/// </summary>
internal ref struct OptionParser
{
    private ReadOnlySpan<byte> _rest;
    private readonly int _maxString;

    public OptionParser(ReadOnlySpan<byte> data, int maxString)
    {
        _rest = data;
        _maxString = maxString;
    }

    public int Remaining => _rest.Length;

    public uint ReadUInt32()
    {
        if (_rest.Length < 4) throw new FormatException("option data ends inside a 32-bit field");
        uint v = BinaryPrimitives.ReadUInt32BigEndian(_rest);
        _rest = _rest[4..];
        return v;
    }

    public ushort ReadUInt16()
    {
        if (_rest.Length < 2) throw new FormatException("option data ends inside a 16-bit field");
        ushort v = BinaryPrimitives.ReadUInt16BigEndian(_rest);
        _rest = _rest[2..];
        return v;
    }

    /// <summary>A string of <paramref name="length"/> bytes: must fit in what remains, within the limit, valid UTF-8 without NUL.</summary>
    public string ReadString(uint length)
    {
        if (length > (uint)_rest.Length) throw new FormatException($"a string length of {length} runs past the end of the option");
        if (length > (uint)_maxString) throw new FormatException($"a string of {length} bytes exceeds the {_maxString}-byte limit");
        var bytes = _rest[..(int)length];
        _rest = _rest[(int)length..];
        if (bytes.IndexOf((byte)0) >= 0) throw new FormatException("strings must not contain NUL");
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new FormatException("string is not valid UTF-8");
        }
    }

    public string ReadLengthPrefixedString() => ReadString(ReadUInt32());

    public void ExpectEnd()
    {
        if (!_rest.IsEmpty) throw new FormatException($"{_rest.Length} unexpected bytes at the end of the option");
    }
}
