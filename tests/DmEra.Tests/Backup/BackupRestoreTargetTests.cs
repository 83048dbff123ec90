using DmEra.Backup;
using DmEra.Tests.Tools;
using Xunit;

namespace DmEra.Tests.Backup;

/// <summary>
/// A restore to a new file: the file appears under its name only complete. One that fails mid-way leaves
/// neither the name nor its partial file behind; an existing target is written in place as before.
/// </summary>
public sealed class BackupRestoreTargetTests
{
    private const int ClusterBits = 16;
    private const long Size = 16L << 20;

    /// <summary>A chain of one full point whose every cluster holds data (so the restore writes in several pieces).</summary>
    private static byte[] OnePointChain(string dir)
    {
        var data = new byte[Size];
        new Random(7).NextBytes(data);
        const string file = "v.0000.full.qcow2";
        string sum;
        using (var w = new Qcow2PointWriter(Path.Combine(dir, file), Size, ClusterBits, null))
        {
            w.WriteData(0, data);
            w.Finish();
            sum = w.Checksum!;
        }
        new BackupManifest { Volume = "v" }.With(new BackupPoint
        {
            Point = 0, File = file, Kind = BackupManifest.Full, Era = 1, Bytes = Size, TrackingId = "ab", SizeBytes = Size,
            ClusterSize = 1 << ClusterBits, Checksum = sum,
        }).Save(dir);
        return data;
    }

    [Fact]
    public void A_restore_to_a_new_file_that_fails_mid_way_leaves_no_file_behind()
    {
        using var chain = new TempDir();
        using var target = new TempDir();
        OnePointChain(chain.Path);
        var to = target.File("restored.raw");
        var failure = Assert.Throws<IOException>(() =>
            BackupRestore.Run(chain.Path, null, to, quiet: true, written: _ => throw new IOException("injected read failure"), CancellationToken.None));
        Assert.Equal("injected read failure", failure.Message);
        Assert.False(File.Exists(to), "a half-written restore is left under the target's name");
        Assert.Empty(Directory.GetFileSystemEntries(target.Path));
    }

    [Fact]
    public void A_restore_to_a_new_file_is_written_beside_it_and_renamed_once_complete()
    {
        using var chain = new TempDir();
        using var target = new TempDir();
        var data = OnePointChain(chain.Path);
        var to = target.File("restored.raw");
        var seenWhileWriting = new List<bool>();
        BackupRestore.Run(chain.Path, null, to, quiet: true, written: _ => seenWhileWriting.Add(File.Exists(to)), CancellationToken.None);
        Assert.NotEmpty(seenWhileWriting);
        Assert.DoesNotContain(true, seenWhileWriting);
        Assert.Equal(data, File.ReadAllBytes(to));
        Assert.Equal([to], Directory.GetFileSystemEntries(target.Path));
    }

    [Fact]
    public void A_restore_over_an_existing_file_of_the_volume_s_size_still_replaces_it_in_place()
    {
        using var chain = new TempDir();
        using var target = new TempDir();
        var data = OnePointChain(chain.Path);
        var to = target.File("restored.raw");
        File.WriteAllBytes(to, new byte[Size]);
        var inode = new Mono.Unix.UnixFileInfo(to).Inode;
        BackupRestore.Run(chain.Path, null, to, quiet: true, CancellationToken.None);
        Assert.Equal(data, File.ReadAllBytes(to));
        Assert.Equal(inode, new Mono.Unix.UnixFileInfo(to).Inode);
    }
}
