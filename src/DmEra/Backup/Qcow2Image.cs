using System.Buffers.Binary;
using System.Text;

namespace DmEra.Backup;

/// <summary>
/// Reads a qcow2 image (v2 or v3, uncompressed, unencrypted: what backup points are) one layer at a
/// time: what a guest offset maps to in this file. Keeps the L1 table and the last L2 table used, so
/// an ascending walk reads each L2 table once.
/// </summary>
public sealed class Qcow2Image : IDisposable
{
    public enum Mapping { Unallocated, Zero, Data }

    private readonly FileStream _file;
    private readonly ulong[] _l1;
    private readonly byte[] _l2;
    private long _l2Index = -1;

    private Qcow2Image(string path, FileStream file, int clusterBits, long virtualSize, ulong[] l1, string? backing, int version)
    {
        Path = path;
        _file = file;
        ClusterBits = clusterBits;
        VirtualSize = virtualSize;
        _l1 = l1;
        BackingFile = backing;
        Version = version;
        _l2 = new byte[1 << clusterBits];
    }

    public string Path { get; }
    public int ClusterBits { get; }
    public int ClusterSize => 1 << ClusterBits;
    public long VirtualSize { get; }
    public string? BackingFile { get; }
    public int Version { get; }

    public static Qcow2Image Open(string path)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.RandomAccess);
        try
        {
            var h = new byte[Math.Min(file.Length, 4096)];
            if (h.Length < 72) throw Bad(path, "too short for a qcow2 header");
            RandomAccess.Read(file.SafeFileHandle, h, 0);
            var s = h.AsSpan();
            if (BinaryPrimitives.ReadUInt32BigEndian(s) != Qcow2Layout.Magic) throw Bad(path, "no qcow2 magic");
            var version = (int)BinaryPrimitives.ReadUInt32BigEndian(s[4..]);
            if (version is not (2 or 3)) throw Bad(path, $"qcow2 version {version}");
            var backingOffset = (long)BinaryPrimitives.ReadUInt64BigEndian(s[8..]);
            var backingSize = (int)BinaryPrimitives.ReadUInt32BigEndian(s[16..]);
            var clusterBits = (int)BinaryPrimitives.ReadUInt32BigEndian(s[20..]);
            var size = (long)BinaryPrimitives.ReadUInt64BigEndian(s[24..]);
            var crypt = BinaryPrimitives.ReadUInt32BigEndian(s[32..]);
            var l1Size = BinaryPrimitives.ReadUInt32BigEndian(s[36..]);
            var l1Offset = (long)BinaryPrimitives.ReadUInt64BigEndian(s[40..]);
            if (clusterBits is < Qcow2Layout.MinClusterBits or > Qcow2Layout.MaxClusterBits) throw Bad(path, $"cluster bits {clusterBits}");
            if (crypt != 0) throw Bad(path, "encrypted");
            if (version == 3 && h.Length >= 80 && (BinaryPrimitives.ReadUInt64BigEndian(s[72..]) & ~1UL) != 0)
                throw Bad(path, "incompatible features this reader does not know");
            if (l1Size < Qcow2Layout.L1Size(size, 1 << clusterBits)) throw Bad(path, "L1 table too small for its size");
            if (l1Offset + l1Size * 8L > file.Length) throw Bad(path, "L1 table past the end of the file");
            string? backing = null;
            if (backingOffset != 0)
            {
                if (backingSize is <= 0 or > 1023 || backingOffset + backingSize > h.Length) throw Bad(path, "bad backing file name");
                backing = Encoding.UTF8.GetString(s.Slice((int)backingOffset, backingSize));
            }
            var raw = new byte[l1Size * 8L];
            RandomAccess.Read(file.SafeFileHandle, raw, l1Offset);
            var l1 = new ulong[l1Size];
            for (var i = 0; i < l1.Length; i++) l1[i] = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
            return new Qcow2Image(path, file, clusterBits, size, l1, backing, version);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static BackupException Bad(string path, string why) => new($"{path}: not a readable qcow2 backup point ({why})");

    /// <summary>What the cluster holding <paramref name="guestOffset"/> is in this layer, and where its data is.</summary>
    public (Mapping Kind, long HostOffset) Lookup(long guestOffset)
    {
        var cluster = guestOffset >> ClusterBits;
        var entries = ClusterSize / 8;
        var l1Index = cluster / entries;
        if (l1Index >= _l1.Length) return (Mapping.Unallocated, 0);
        var l2Offset = (long)(_l1[l1Index] & Qcow2Layout.OffsetMask);
        if (l2Offset == 0) return (Mapping.Unallocated, 0);
        if (_l2Index != l1Index)
        {
            if (RandomAccess.Read(_file.SafeFileHandle, _l2, l2Offset) != _l2.Length) throw Bad(Path, "L2 table past the end of the file");
            _l2Index = l1Index;
        }
        var entry = BinaryPrimitives.ReadUInt64BigEndian(_l2.AsSpan((int)(cluster % entries) * 8));
        if ((entry & Qcow2Layout.Compressed) != 0) throw Bad(Path, "compressed clusters");
        var host = (long)(entry & Qcow2Layout.OffsetMask);
        if (Version >= 3 && (entry & Qcow2Layout.ZeroFlag) != 0) return (Mapping.Zero, 0);
        return host == 0 ? (Mapping.Unallocated, 0) : (Mapping.Data, host + (guestOffset & (ClusterSize - 1)));
    }

    public void ReadData(long hostOffset, Span<byte> buffer)
    {
        if (RandomAccess.Read(_file.SafeFileHandle, buffer, hostOffset) != buffer.Length)
            throw Bad(Path, "data cluster past the end of the file");
    }

    public void Dispose() => _file.Dispose();
}
