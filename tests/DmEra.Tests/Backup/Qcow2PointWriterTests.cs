using DmEra.Backup;
using DmEra.Tests.Tools;
using Xunit;

namespace DmEra.Tests.Backup;

/// <summary>The point writer against the real qemu-img: check finds nothing, convert and info read every point.</summary>
public sealed class Qcow2PointWriterTests
{
    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static void AssertCheckClean(string path)
    {
        var r = DmeraProcess.Run("qemu-img", "check", "-f", "qcow2", path);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("No errors", r.StdOut);
    }

    private static byte[] Convert(TempDir dir, string path)
    {
        var raw = dir.File(Path.GetFileName(path) + ".raw");
        var r = DmeraProcess.Run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", path, raw);
        Assert.True(r.ExitCode == 0, r.ToString());
        return File.ReadAllBytes(raw);
    }

    [Fact]
    public void A_full_point_is_clean_for_qemu_img_check_and_converts_to_the_bytes_written()
    {
        using var dir = new TempDir();
        const int cs = 64 << 10;
        const long size = 64L << 20;
        var expected = new byte[size];
        var path = dir.File("full.qcow2");
        using (var w = new Qcow2PointWriter(path, size, 16, null))
        {
            foreach (var (cluster, count) in new[] { (0L, 1), (5L, 3), (1023L, 1) })
            {
                var data = Pattern(count * cs, (int)cluster);
                w.WriteData(cluster, data);
                data.CopyTo(expected, cluster * cs);
            }
            w.Finish();
        }
        AssertCheckClean(path);
        Assert.Equal(expected, Convert(dir, path));
        using var chain = new Qcow2Chain([path]);
        var buffer = new byte[cs];
        Assert.True(chain.Read(5L * cs, buffer));
        Assert.Equal(expected.AsSpan(5 * cs, cs).ToArray(), buffer);
        Assert.False(chain.Read(2L * cs, buffer));
    }

    [Fact]
    public void The_checksum_computed_while_writing_is_the_one_recomputed_from_the_file_and_a_changed_byte_changes_it()
    {
        using var dir = new TempDir();
        const int cs = 4 << 10;
        var path = dir.File("p.qcow2");
        string sum;
        using (var w = new Qcow2PointWriter(path, 8L << 20, 12, null))
        {
            // Past one L2 table's range (512 clusters at 4 KiB), so tables are interleaved with data.
            for (var c = 0L; c < 2048; c += 3) w.WriteData(c, Pattern(cs, (int)c));
            w.Finish();
            sum = w.Checksum!;
        }
        Assert.StartsWith(FileChecksum.HeaderLastPrefix, sum);
        Assert.Equal(sum, FileChecksum.Like(sum, path));
        Assert.NotEqual(sum, FileChecksum.Of(path));    // the in-order form differs, and verify still reads it
        using (var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = 7 * cs + 100;
            var b = f.ReadByte();
            f.Position = 7 * cs + 100;
            f.WriteByte((byte)(b ^ 1));
        }
        Assert.NotEqual(sum, FileChecksum.Like(sum, path));
    }

    [Fact]
    public void An_incremental_reads_through_to_its_backing_file_and_its_zero_clusters_read_zeros()
    {
        using var dir = new TempDir();
        const int cs = 64 << 10;
        const long size = 16L << 20;
        var expected = new byte[size];
        var basePath = dir.File("base.qcow2");
        using (var w = new Qcow2PointWriter(basePath, size, 16, null))
        {
            var data = Pattern(8 * cs, 1);
            w.WriteData(0, data);
            data.CopyTo(expected, 0);
            w.Finish();
        }
        var top = dir.File("top.qcow2");
        using (var w = new Qcow2PointWriter(top, size, 16, "base.qcow2"))
        {
            var data = Pattern(cs, 2);
            w.WriteData(1, data);
            data.CopyTo(expected, cs);
            w.WriteZero(3);
            Array.Clear(expected, 3 * cs, cs);
            var tail = Pattern(cs, 3);
            w.WriteData(255, tail);
            tail.CopyTo(expected, 255 * cs);
            w.Finish();
        }
        AssertCheckClean(top);
        var info = DmeraProcess.Run("qemu-img", "info", "--backing-chain", top);
        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.Contains("base.qcow2", info.StdOut);
        Assert.Contains("backing file format: qcow2", info.StdOut);
        Assert.Equal(expected, Convert(dir, top));
        using var chain = new Qcow2Chain([basePath, top]);
        var buffer = new byte[cs];
        Assert.True(chain.Read(2L * cs, buffer));
        Assert.Equal(expected.AsSpan(2 * cs, cs).ToArray(), buffer);
        Assert.False(chain.Read(3L * cs, buffer));
    }

    [Fact]
    public void Small_clusters_across_many_L2_tables_and_refcount_blocks_and_a_partial_last_cluster_stay_clean()
    {
        using var dir = new TempDir();
        const int cs = 4096;
        const long size = (32L << 20) + 1536;    // not a whole number of clusters
        var expected = new byte[size];
        var path = dir.File("small.qcow2");
        using (var w = new Qcow2PointWriter(path, size, 12, null))
        {
            // 3000 data clusters: more than one refcount block (2048 clusters each at 4 KiB) and many L2 tables.
            for (long c = 0; c < 6000; c += 2)
            {
                var data = Pattern(cs, (int)c);
                w.WriteData(c, data);
                data.AsSpan(0, (int)Math.Min(cs, size - c * cs)).CopyTo(expected.AsSpan((int)(c * cs)));
            }
            var last = (size - 1) / cs;
            var tail = Pattern(cs, 99);
            tail.AsSpan(1536..).Clear();
            w.WriteData(last, tail);
            tail.AsSpan(0, 1536).CopyTo(expected.AsSpan((int)(last * cs)));
            w.Finish();
        }
        AssertCheckClean(path);
        Assert.Equal(expected, Convert(dir, path));
    }

    [Fact]
    public void Refcount_structures_count_themselves()
    {
        foreach (var cs in new[] { 512, 4096, 65536 })
        {
            long perBlock = cs / 2, perTable = cs / 8;
            foreach (var other in new long[] { 1, 5, perBlock - 2, perBlock - 1, perBlock, perBlock * perTable - 3, perBlock * perTable + 7 })
            {
                var (blocks, table) = Qcow2Layout.RefcountClusters(other, cs);
                var total = other + blocks + table;
                Assert.True(blocks * perBlock >= total, $"cs {cs} other {other}: {blocks} blocks cannot count {total} clusters");
                Assert.True(table * perTable >= blocks, $"cs {cs} other {other}: {table} table clusters cannot point at {blocks} blocks");
            }
        }
    }

    [Fact]
    public void Clusters_must_come_in_ascending_order()
    {
        using var dir = new TempDir();
        using var w = new Qcow2PointWriter(dir.File("x.qcow2"), 1 << 20, 16, null);
        w.WriteZero(3);
        Assert.Throws<ArgumentOutOfRangeException>(() => w.WriteZero(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => w.WriteZero(16));
    }
}
