using System.IO.Compression;
using System.Runtime.CompilerServices;

namespace DmEra.Metadata.Tests.Interop;

/// <summary>
/// The golden files in <c>tests/DmEra.Metadata.Tests/Fixtures</c> (see its README.md), read from the
/// source tree so the project file need not copy them.
/// </summary>
public static class GoldenFixtures
{
    public static readonly string[] Names = ["three-writesets", "one-block", "odd-block-size"];

    public static string Directory { get; } = Locate();

    public static string PathOf(string file) => Path.Combine(Directory, file);

    /// <summary>The eras for which <c>&lt;name&gt;.invalidate-&lt;era&gt;.xml</c> exists.</summary>
    public static IEnumerable<uint> InvalidateEras(string name) =>
        System.IO.Directory.EnumerateFiles(Directory, $"{name}.invalidate-*.xml")
            .Select(f => uint.Parse(Path.GetFileNameWithoutExtension(f)[(name.Length + ".invalidate-".Length)..]))
            .Order();

    /// <summary>Decompresses <c>&lt;name&gt;.metadata.gz</c> to <paramref name="target"/>.</summary>
    public static void ExtractImage(string name, string target)
    {
        using var compressed = File.OpenRead(PathOf($"{name}.metadata.gz"));
        using var gzip = new GZipStream(compressed, CompressionMode.Decompress);
        using var output = File.Create(target);
        gzip.CopyTo(output);
    }

    private static string Locate([CallerFilePath] string thisFile = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "Fixtures"));
}
