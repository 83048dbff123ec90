using System.Buffers.Binary;
using System.IO.Hashing;

namespace DmEra.Backup;

/// <summary>
/// The checksum of a point's whole file: it catches a file changed behind the manifest's back (damage, a
/// stray write, an edit). XXH3-128 rather than SHA-256 because it costs a fraction of the copy instead of
/// as much again; the manifest is not signed, so a cryptographic hash would prove nothing more. Two forms:
/// <list type="bullet">
/// <item><c>xxh128-header-last:HEX</c> (what <c>create</c> records): the file's bytes from its second
/// cluster to its end, then its first cluster. That is the order <see cref="Qcow2PointWriter"/> writes
/// them in (the header last), so the writer hashes while it copies and no second read of the point is needed.</item>
/// <item><c>xxh128:HEX</c>: the bytes in file order (points written before the streaming form).</item>
/// </list>
/// Read in bounded chunks.
/// </summary>
public static class FileChecksum
{
    public const string Prefix = "xxh128:";
    public const string HeaderLastPrefix = "xxh128-header-last:";

    /// <summary>The whole file in order, <c>xxh128:HEX</c>.</summary>
    public static string Of(string path, CancellationToken ct = default)
    {
        using var f = Open(path);
        var hash = new XxHash128();
        Append(f, hash, 0, f.Length, ct);
        return Format(Prefix, hash);
    }

    /// <summary>The file's checksum in the form <paramref name="recorded"/> has, for comparing with it.</summary>
    public static string Like(string recorded, string path, CancellationToken ct = default)
    {
        if (!recorded.StartsWith(HeaderLastPrefix, StringComparison.Ordinal)) return Of(path, ct);
        using var f = Open(path);
        // The cluster size from the header; a file too damaged to say gets the in-order hash, which cannot match.
        var header = new byte[24];
        var bits = RandomAccess.Read(f.SafeFileHandle, header, 0) == header.Length ? (int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(20)) : -1;
        var hash = new XxHash128();
        if (bits is < Qcow2Layout.MinClusterBits or > Qcow2Layout.MaxClusterBits || f.Length < 1L << bits)
        {
            Append(f, hash, 0, f.Length, ct);
            return Format(Prefix, hash);
        }
        Append(f, hash, 1L << bits, f.Length, ct);
        Append(f, hash, 0, 1L << bits, ct);
        return Format(HeaderLastPrefix, hash);
    }

    public static string Format(string prefix, XxHash128 hash) => prefix + Convert.ToHexStringLower(hash.GetCurrentHash());

    private static FileStream Open(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);

    private static void Append(FileStream f, XxHash128 hash, long from, long to, CancellationToken ct)
    {
        var buffer = new byte[1 << 20];
        for (var at = from; at < to;)
        {
            ct.ThrowIfCancellationRequested();
            var n = RandomAccess.Read(f.SafeFileHandle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, to - at)), at);
            if (n <= 0) break;
            hash.Append(buffer.AsSpan(0, n));
            at += n;
        }
    }
}
