using DmEra.Backup;
using DmEra.Tests.Tools;
using Xunit;

namespace DmEra.Tests.Backup;

public sealed class BackupManifestTests
{
    private static BackupPoint Point(int n, string kind, string? backing) => new()
    {
        Point = n, File = $"v.{n:D4}.{kind}.qcow2", Kind = kind, Era = (uint)(n + 1), Backing = backing, TrackingId = "ab", SizeBytes = 1 << 20, Checksum = "00",
    };

    private static BackupManifest Chain() =>
        new BackupManifest { Volume = "v" }
            .With(Point(0, "full", null))
            .With(Point(1, "incremental", "v.0000.full.qcow2"))
            .With(Point(2, "full", null))
            .With(Point(3, "incremental", "v.0002.full.qcow2"));

    [Fact]
    public void A_manifest_round_trips_through_its_file_with_snake_case_names()
    {
        using var dir = new TempDir();
        Chain().Save(dir.Path);
        var text = File.ReadAllText(BackupManifest.PathIn(dir.Path));
        Assert.Contains("\"since_era\"", text);
        Assert.Contains("\"tracking_id\"", text);
        var back = BackupManifest.Load(dir.Path);
        Assert.Equal(4, back.Points.Count);
        Assert.Equal(Chain().Points[3], back.Points[3]);
    }

    [Fact]
    public void A_restore_reads_from_the_last_full_point_at_or_before_the_one_asked()
    {
        var m = Chain();
        Assert.Equal([0, 1], m.ChainTo(1).Select(p => p.Point));
        Assert.Equal([2], m.ChainTo(2).Select(p => p.Point));
        Assert.Equal([2, 3], m.ChainTo(3).Select(p => p.Point));
        Assert.Contains("no point 4", Assert.Throws<BackupException>(() => m.ChainTo(4)).Message);
    }

    [Fact]
    public void A_directory_without_a_manifest_or_with_a_damaged_one_is_refused_in_one_line()
    {
        using var dir = new TempDir();
        Assert.Contains("holds no backup chain", Assert.Throws<BackupException>(() => BackupManifest.Load(dir.Path)).Message);
        File.WriteAllText(BackupManifest.PathIn(dir.Path), "{ not json");
        Assert.Contains("not a backup manifest", Assert.Throws<BackupException>(() => BackupManifest.Load(dir.Path)).Message);
        var broken = Chain() with { Points = [Point(0, "full", null), Point(1, "incremental", "other.qcow2")] };
        broken.Save(dir.Path);
        Assert.Contains("backing is not point 0", Assert.Throws<BackupException>(() => BackupManifest.Load(dir.Path)).Message);
    }
}
