using System.Text;
using Xunit.Sdk;

namespace DmEra.Metadata.Tests.Interop;

/// <summary>Byte-exact file comparison that streams (dumps reach hundreds of MB) and, on a difference, shows the line.</summary>
public static class FileAssert
{
    public static void SameBytes(string expectedPath, string actualPath, string? context = null)
    {
        using var expected = new FileStream(expectedPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using var actual = new FileStream(actualPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var a = new byte[1 << 16];
        var b = new byte[1 << 16];
        long offset = 0;
        while (true)
        {
            var na = expected.ReadAtLeast(a, a.Length, throwOnEndOfStream: false);
            var nb = actual.ReadAtLeast(b, b.Length, throwOnEndOfStream: false);
            var common = Math.Min(na, nb);
            var diff = a.AsSpan(0, common).CommonPrefixLength(b.AsSpan(0, common));
            if (diff < common || na != nb)
                throw new XunitException(Describe(expectedPath, actualPath, offset + diff, context));
            if (na == 0) return;
            offset += na;
        }
    }

    private static string Describe(string expectedPath, string actualPath, long offset, string? context)
    {
        var (line, expectedLine) = LineAt(expectedPath, offset);
        var (_, actualLine) = LineAt(actualPath, offset);
        return $"{Path.GetFileName(actualPath)} differs from {Path.GetFileName(expectedPath)} at byte {offset} (line {line})" +
               (context is null ? "" : $" for {context}") +
               $"\n  expected: {Show(expectedLine)}\n  actual:   {Show(actualLine)}" +
               $"\n  sizes: {new FileInfo(expectedPath).Length} vs {new FileInfo(actualPath).Length}";
    }

    private static (long Line, string? Text) LineAt(string path, long offset)
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        long line = 1, position = 0;
        while (reader.ReadLine() is { } text)
        {
            var next = position + Encoding.UTF8.GetByteCount(text) + 1;
            if (offset < next) return (line, text);
            position = next;
            line++;
        }
        return (line, null);
    }

    private static string Show(string? line) => line is null ? "<end of file>" : $"\"{line}\"";
}
