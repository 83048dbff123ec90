using System.Buffers.Binary;
using System.Text;

namespace DmEra.Backup;

/// <summary>
/// The qcow2 v3 facts the point writer and reader share (qemu docs/interop/qcow2.txt; big-endian): the
/// header, table entry encodings, and how many refcount clusters a file of N clusters needs. No I/O.
/// </summary>
public static class Qcow2Layout
{
    public const uint Magic = 0x514649fb;     // "QFI\xfb"
    public const int HeaderLength = 104;
    public const uint BackingFormatExtension = 0xE2792ACA;
    public const ulong OffsetMask = 0x00FF_FFFF_FFFF_FE00;
    public const ulong Copied = 1UL << 63;
    public const ulong Compressed = 1UL << 62;
    /// <summary>L2 bit 0: the cluster reads as zeros without falling through to the backing file.</summary>
    public const ulong ZeroFlag = 1;
    public const int RefcountOrder = 4;       // 16-bit refcounts, qemu's default
    public const int MinClusterBits = 9;
    public const int MaxClusterBits = 21;

    public static int L2Entries(int clusterSize) => clusterSize / 8;

    /// <summary>L1 entries for a virtual size: qemu refuses an image whose L1 is smaller.</summary>
    public static long L1Size(long virtualSize, int clusterSize) =>
        CeilDiv(CeilDiv(virtualSize, clusterSize), L2Entries(clusterSize));

    public static long CeilDiv(long a, long b) => (a + b - 1) / b;

    /// <summary>
    /// Refcount blocks and refcount-table clusters for a file whose other contents fill clusters
    /// [0, <paramref name="otherClusters"/>), when the refcount structures are appended after them and
    /// must count themselves too: the smallest fixed point.
    /// </summary>
    public static (long Blocks, long TableClusters) RefcountClusters(long otherClusters, int clusterSize)
    {
        long perBlock = clusterSize * 8 / (1 << RefcountOrder);
        long perTableCluster = clusterSize / 8;
        long blocks = 1, table = 1;
        while (true)
        {
            var total = otherClusters + blocks + table;
            var needBlocks = CeilDiv(total, perBlock);
            var needTable = CeilDiv(needBlocks, perTableCluster);
            if (needBlocks <= blocks && needTable <= table) return (blocks, table);
            blocks = Math.Max(blocks, needBlocks);
            table = Math.Max(table, needTable);
        }
    }

    /// <summary>Header, optional backing-format extension, end marker and backing name: cluster 0's contents.</summary>
    public static byte[] Header(int clusterBits, long virtualSize, long l1Size, long l1Offset, long refcountTableOffset,
        long refcountTableClusters, string? backingFile)
    {
        var clusterSize = 1 << clusterBits;
        var h = new byte[clusterSize];
        var s = h.AsSpan();
        BinaryPrimitives.WriteUInt32BigEndian(s, Magic);
        BinaryPrimitives.WriteUInt32BigEndian(s[4..], 3);
        BinaryPrimitives.WriteUInt32BigEndian(s[20..], (uint)clusterBits);
        BinaryPrimitives.WriteUInt64BigEndian(s[24..], (ulong)virtualSize);
        BinaryPrimitives.WriteUInt32BigEndian(s[36..], checked((uint)l1Size));
        BinaryPrimitives.WriteUInt64BigEndian(s[40..], (ulong)l1Offset);
        BinaryPrimitives.WriteUInt64BigEndian(s[48..], (ulong)refcountTableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(s[56..], checked((uint)refcountTableClusters));
        BinaryPrimitives.WriteUInt32BigEndian(s[96..], RefcountOrder);
        BinaryPrimitives.WriteUInt32BigEndian(s[100..], HeaderLength);
        var at = HeaderLength;
        if (backingFile is not null)
        {
            // qemu 6.1+ refuses to modify an image whose backing format is not recorded.
            var format = "qcow2"u8;
            BinaryPrimitives.WriteUInt32BigEndian(s[at..], BackingFormatExtension);
            BinaryPrimitives.WriteUInt32BigEndian(s[(at + 4)..], (uint)format.Length);
            format.CopyTo(s[(at + 8)..]);
            at += 8 + (format.Length + 7) / 8 * 8;
        }
        at += 8;    // end of extensions: type 0, length 0
        if (backingFile is not null)
        {
            var name = Encoding.UTF8.GetBytes(backingFile);
            if (name.Length > 1023 || at + name.Length > clusterSize)
                throw new BackupException($"backing file name too long for a qcow2 header: {backingFile}");
            name.CopyTo(s[at..]);
            BinaryPrimitives.WriteUInt64BigEndian(s[8..], (ulong)at);
            BinaryPrimitives.WriteUInt32BigEndian(s[16..], (uint)name.Length);
        }
        return h;
    }

    /// <summary>
    /// The cluster size for a volume's points: its tracking block when that is a power of two qcow2 allows
    /// (an incremental then copies exactly the dirty blocks), else 64 KiB (qemu's default; partial
    /// clusters are then filled from the view).
    /// </summary>
    public static int ClusterBitsFor(long blockSizeBytes)
    {
        if (blockSizeBytes >= 1 << 12 && blockSizeBytes <= 1 << MaxClusterBits && (blockSizeBytes & (blockSizeBytes - 1)) == 0)
            return System.Numerics.BitOperations.Log2((ulong)blockSizeBytes);
        return 16;
    }
}
