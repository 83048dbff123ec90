using System.Text;

namespace DmEra.Admin;

/// <summary>
/// The admin socket's framing, readable with socat: a request is one line; the reply is data lines
/// each starting with ". ", then one final line, "ok" or "error: MESSAGE".
/// </summary>
public static class AdminWire
{
    public const string DataPrefix = ". ";
    public const string Ok = "ok";
    public const string ErrorPrefix = "error: ";

    public static string Reply(IEnumerable<string> lines, string? error)
    {
        var sb = new StringBuilder();
        foreach (var line in lines) sb.Append(DataPrefix).Append(line).Append('\n');
        sb.Append(error is null ? Ok : ErrorPrefix + error.ReplaceLineEndings(" ")).Append('\n');
        return sb.ToString();
    }

    /// <summary>
    /// Reads one line of at most <paramref name="maxBytes"/> bytes; null at end of stream. A longer line
    /// throws <see cref="InvalidDataException"/>: nothing is buffered past the limit.
    /// </summary>
    public static async Task<string?> ReadLineAsync(Stream stream, byte[] buffer, int maxBytes, CancellationToken ct)
    {
        var length = 0;
        var one = new byte[1];
        while (true)
        {
            var n = await stream.ReadAsync(one, ct).ConfigureAwait(false);
            if (n == 0) return length == 0 ? null : throw new EndOfStreamException("connection closed in the middle of a line");
            if (one[0] == (byte)'\n') return Encoding.UTF8.GetString(buffer, 0, length).TrimEnd('\r');
            if (length == maxBytes) throw new InvalidDataException($"line longer than {maxBytes} bytes");
            buffer[length++] = one[0];
        }
    }
}
