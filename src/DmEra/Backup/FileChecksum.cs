using System.IO.Hashing;

namespace DmEra.Backup;

/// <summary>
/// The checksum of a point's whole file, <c>xxh128:HEX</c>: it catches a file changed behind the
/// manifest's back (damage, a stray write, an edit). XXH3-128 rather than SHA-256 because it costs a
/// fraction of the copy instead of as much again; the manifest is not signed, so a cryptographic hash
/// would prove nothing more. Read in bounded chunks.
/// </summary>
public static class FileChecksum
{
    public const string Prefix = "xxh128:";

    public static string Of(string path, CancellationToken ct = default)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var hash = new XxHash128();
        var buffer = new byte[1 << 20];
        int n;
        while ((n = f.Read(buffer)) > 0)
        {
            ct.ThrowIfCancellationRequested();
            hash.Append(buffer.AsSpan(0, n));
        }
        return Prefix + Convert.ToHexStringLower(hash.GetCurrentHash());
    }
}
