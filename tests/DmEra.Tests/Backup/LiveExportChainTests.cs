using DmEra.Backup;
using DmEra.Daemon;
using DmEra.Tests.Daemon;
using DmEra.Tests.Tools;
using Xunit;

namespace DmEra.Tests.Backup;

/// <summary>
/// The data path without the view: points copied from a real daemon's live export (quiet between
/// copies) with its written-since context, the chain listed, verified and restored by the dmera CLI,
/// and read by qemu-img.
/// </summary>
public sealed class LiveExportChainTests
{
    private static BackupPoint CopyPoint(TempDir chainDir, DaemonProcess d, BackupManifest manifest, uint era, uint? since, string? dirtyContext)
    {
        var n = manifest.Points.Count;
        var kind = since is null ? BackupManifest.Full : BackupManifest.Incremental;
        var file = $"v.{n:D4}.{kind}.qcow2";
        var backing = since is null ? null : manifest.Last!.File;
        using var primary = PointCopier.Connect(d.Uri("v"), dirtyContext);
        CopyResult copied;
        using (var writer = new Qcow2PointWriter(chainDir.File(file), primary.Size, 16, backing))
        {
            copied = new PointCopier(d.Uri("v")).Copy(primary, dirtyContext, writer, null, CancellationToken.None);
            writer.Finish();
        }
        return new BackupPoint
        {
            Point = n, File = file, Kind = kind, Era = era, SinceEra = since, Bytes = copied.BytesCopied, TrackingId = "t",
            SizeBytes = primary.Size, ClusterSize = 1 << 16, Backing = backing, Checksum = FileChecksum.Of(chainDir.File(file)),
        };
    }

    [Fact]
    public async Task A_full_point_and_two_incrementals_restore_exactly_through_dmera_and_qemu_img()
    {
        using var dir = new TempDir();
        using var chainDir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", 32L << 20),
            "--volume", DaemonEndToEndTests.Volume(dir, "target", 32L << 20));
        var volume = new byte[32L << 20];
        var states = new List<byte[]>();
        var manifest = new BackupManifest { Volume = "v" };

        BackupVolume.WriteBlocks(d.Uri("v"), volume, [0, 1, 7, 100, 511], generation: 1);
        var era = BackupVolume.Checkpoint(d, "v");
        manifest = manifest.With(CopyPoint(chainDir, d, manifest, era - 1, null, null));
        states.Add((byte[])volume.Clone());
        Assert.Equal(5L * BackupVolume.Block, manifest.Last!.Bytes);    // the holes are not copied

        for (var g = 2; g <= 3; g++)
        {
            BackupVolume.WriteBlocks(d.Uri("v"), volume, [1, 2 * g, 300 + g], generation: g);
            BackupVolume.WriteBlocks(d.Uri("v"), volume, [], g);
            using (var z = NbdConnection.Open(d.Uri("v"), []))
            {
                z.Zero(7L * BackupVolume.Block, BackupVolume.Block);    // a dirty block that now reads zeros
                Array.Clear(volume, 7 * BackupVolume.Block, BackupVolume.Block);
            }
            var since = era;
            era = BackupVolume.Checkpoint(d, "v");
            manifest = manifest.With(CopyPoint(chainDir, d, manifest, era - 1, since, EraVolumeExport.WrittenSincePrefix + since));
            states.Add((byte[])volume.Clone());
            Assert.Equal(3L * BackupVolume.Block, manifest.Last!.Bytes);    // only the dirty data blocks
        }
        manifest.Save(chainDir.Path);

        var list = DmeraProcess.Dmera("backup", "list", chainDir.Path, "--json");
        Assert.True(list.ExitCode == 0, list.ToString());
        using (var doc = System.Text.Json.JsonDocument.Parse(list.StdOut))
        {
            var points = doc.RootElement.EnumerateArray().ToList();
            Assert.Equal(3, points.Count);
            Assert.Equal("incremental", points[2].GetProperty("kind").GetString());
            Assert.Equal(2, points[2].GetProperty("point").GetInt32());
            Assert.Equal("v.0002.incremental.qcow2", points[2].GetProperty("file").GetString());
            Assert.True(points[2].TryGetProperty("era", out _) && points[2].TryGetProperty("bytes", out _));
        }
        var verify = DmeraProcess.Dmera("backup", "verify", chainDir.Path);
        Assert.True(verify.ExitCode == 0, verify.ToString());

        for (var p = 0; p < states.Count; p++)
        {
            var file = chainDir.File(manifest.Points[p].File);
            BackupVolume.AssertCheckClean(file);
            Assert.True(states[p].AsSpan().SequenceEqual(BackupVolume.Convert(dir, file)), $"qemu-img convert of point {p} differs");
            var restored = dir.File($"restored-{p}.raw");
            var r = DmeraProcess.Dmera("backup", "restore", chainDir.Path, "--point", p.ToString(), "--to", restored);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.True(states[p].AsSpan().SequenceEqual(File.ReadAllBytes(restored)), $"dmera backup restore of point {p} differs");
        }

        // Restore over NBD into another volume, which held other data before: every byte is written.
        BackupVolume.WriteBlocks(d.Uri("target"), new byte[32L << 20], [3, 7, 200], generation: 9);
        var toNbd = DmeraProcess.Dmera("backup", "restore", chainDir.Path, "--point", "1", "--to", d.Uri("target"));
        Assert.True(toNbd.ExitCode == 0, toNbd.ToString());
        var copy = dir.File("target.raw");
        var nbdcopy = DmeraProcess.Run("nbdcopy", d.Uri("target"), copy);
        Assert.True(nbdcopy.ExitCode == 0, nbdcopy.ToString());
        Assert.True(states[1].AsSpan().SequenceEqual(File.ReadAllBytes(copy)), "restore over NBD differs");
    }

    [Fact]
    public async Task Verify_catches_a_point_changed_behind_the_manifest_and_restore_refuses_wrong_input()
    {
        using var dir = new TempDir();
        using var chainDir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", 16L << 20));
        BackupVolume.WriteBlocks(d.Uri("v"), new byte[16L << 20], [0, 5], generation: 1);
        var manifest = new BackupManifest { Volume = "v" };
        manifest = manifest.With(CopyPoint(chainDir, d, manifest, 1, null, null));
        manifest.Save(chainDir.Path);
        Assert.Equal(0, DmeraProcess.Dmera("backup", "verify", chainDir.Path).ExitCode);

        // One byte of data changed inside the qcow2 file: still a valid image, but not the one written.
        using (var f = new FileStream(chainDir.File(manifest.Points[0].File), FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = 3L << 16;
            var b = f.ReadByte();
            f.Position = 3L << 16;
            f.WriteByte((byte)(b ^ 0xff));
        }
        var verify = DmeraProcess.Dmera("backup", "verify", chainDir.Path);
        Assert.Equal(1, verify.ExitCode);
        Assert.Contains("point 0: v.0000.full.qcow2 has changed since it was written", verify.StdErr);
        // Restore reads that point: it refuses rather than write what the backup never held.
        var changed = DmeraProcess.Dmera("backup", "restore", chainDir.Path, "--to", dir.File("changed.raw"));
        Assert.Equal(1, changed.ExitCode);
        Assert.Single(changed.StdErr.Trim().Split('\n'));
        Assert.Contains("point 0: v.0000.full.qcow2 has changed since it was written", changed.StdErr);

        var noPoint = DmeraProcess.Dmera("backup", "restore", chainDir.Path, "--point", "4", "--to", dir.File("x.raw"));
        Assert.Equal(1, noPoint.ExitCode);
        Assert.Equal("no point 4: the chain holds points 0..0", noPoint.StdErr.Trim());
        var notChain = DmeraProcess.Dmera("backup", "list", dir.Path);
        Assert.Equal(1, notChain.ExitCode);
        Assert.Single(notChain.StdErr.Trim().Split('\n'));
        Assert.Contains("holds no backup chain", notChain.StdErr);
        File.Delete(chainDir.File(manifest.Points[0].File));
        var missing = DmeraProcess.Dmera("backup", "restore", chainDir.Path, "--to", dir.File("y.raw"));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("is missing", missing.StdErr);
    }
}
