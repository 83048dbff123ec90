using System.IO.Compression;
using System.Security.Cryptography;

namespace DmEra.Tests.Tools;

/// <summary>A scratch directory removed with the test.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("dmera-test-").FullName;

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>A golden image written by the real era_restore (tests/DmEra.Metadata.Tests/Fixtures).</summary>
    public string Fixture(string name)
    {
        var target = File(name + ".bin");
        using var gz = new GZipStream(System.IO.File.OpenRead(System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures", name + ".metadata.gz")), CompressionMode.Decompress);
        using var output = System.IO.File.Create(target);
        gz.CopyTo(output);
        return target;
    }

    public static string FixtureText(string fileName) =>
        System.IO.File.ReadAllText(System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures", fileName));

    public static string Hash(string path) => Convert.ToHexString(SHA256.HashData(System.IO.File.ReadAllBytes(path)));

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
