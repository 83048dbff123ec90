using System.Security.Cryptography;

namespace DmEra.Backup;

/// <summary>SHA-256 of a whole file, read in bounded chunks (lowercase hex, as sha256sum prints it).</summary>
public static class FileChecksum
{
    public static string Sha256(string path, CancellationToken ct = default)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        int n;
        while ((n = f.Read(buffer)) > 0)
        {
            ct.ThrowIfCancellationRequested();
            hash.AppendData(buffer, 0, n);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
