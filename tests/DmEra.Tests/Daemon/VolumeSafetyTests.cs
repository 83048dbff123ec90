using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;
using DmEra.Tests.Tools;
using static DmEra.Tests.Daemon.DaemonEndToEndTests;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Daemon;

/// <summary>
/// Tracking is never lost by a mistake at start (issue 15 items 1, 2, 9): a smaller origin, a zeroed
/// superblock over metadata in use, and a metadata device too small for its origin are refused with the
/// reason unless the volume says otherwise explicitly; a grown origin is applied and logged, and the real
/// era tools still see every earlier era.
/// </summary>
public sealed class VolumeSafetyTests
{
    private const long Block = 64 * 1024;

    private static string Spec(TempDir dir, string origin, string extra = "") =>
        $"name=v,origin={dir.File(origin)},metadata={dir.File("v.meta")},block-size=128{extra}";

    private static string Output(ProcessResult r) => r.StdOut + r.StdErr;

    private static List<long> WrittenSince(string meta, uint era)
    {
        var r = Run("era_invalidate", "--written-since", era.ToString(), meta);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.StdOut.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("<block ") || l.StartsWith("<range ")).SelectMany(l =>
        {
            var n = System.Text.RegularExpressions.Regex.Matches(l, "\"(\\d+)\"").Select(m => long.Parse(m.Groups[1].Value)).ToArray();
            return n.Length == 1 ? [n[0]] : Enumerable.Range((int)n[0], (int)(n[1] - n[0])).Select(b => (long)b);
        }).ToList();
    }

    [Fact]
    public async Task A_smaller_origin_is_refused_unless_allow_shrink_and_a_grown_one_is_logged_and_keeps_every_era()
    {
        using var dir = new TempDir();
        Volume(dir, "v", 128 * Block);   // v.origin 8 MiB = 128 blocks, v.meta 8 MiB
        using (var f = File.Create(dir.File("typo.origin"))) f.SetLength(64 * Block);
        uint era;
        await using (var d = await DaemonProcess.StartAsync(dir, "--volume", Spec(dir, "v.origin")))
        {
            QemuIo(d, "v", $"write -P 0x11 0 4k", $"write -P 0x22 {100 * Block} 4k");
            era = uint.Parse(d.Admin("message", "v", "checkpoint").StdOut.Trim().Replace("era ", ""));
            QemuIo(d, "v", $"write -P 0x33 {120 * Block} 4k");
            Assert.Equal(0, await d.StopAsync());
        }
        var before = TempDir.Hash(dir.File("v.meta"));

        var refused = DaemonProcess.RunToExit(dir, "--volume", Spec(dir, "typo.origin"));
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("the metadata tracks 128", Output(refused));
        Assert.Contains("allow-shrink=yes", Output(refused));
        Assert.Equal(before, TempDir.Hash(dir.File("v.meta")));

        using (var f = new FileStream(dir.File("v.origin"), FileMode.Open)) f.SetLength(256 * Block);
        await using (var d = await DaemonProcess.StartAsync(dir, "--volume", Spec(dir, "v.origin")))
        {
            Assert.Contains("origin grew from 128 to 256 blocks", d.Log);
            QemuIo(d, "v", $"write -P 0x44 {200 * Block} 4k");
            Assert.Equal(0, await d.StopAsync());
        }
        Assert.Equal(0, Run("era_check", dir.File("v.meta")).ExitCode);
        Assert.Equal([0L, 100, 120, 200], WrittenSince(dir.File("v.meta"), 1));
        Assert.Equal([120L, 200], WrittenSince(dir.File("v.meta"), era));

        await using (var d = await DaemonProcess.StartAsync(dir, "--volume", Spec(dir, "typo.origin", ",allow-shrink=yes")))
        {
            Assert.Contains("origin shrank from 256 to 64 blocks (allow-shrink=yes)", d.Log);
            Assert.Equal(0, await d.StopAsync());
        }
        Assert.Equal([0L], WrittenSince(dir.File("v.meta"), 1));
    }

    [Fact]
    public async Task A_zeroed_superblock_over_metadata_in_use_is_refused_and_formatted_only_with_format_yes()
    {
        using var dir = new TempDir();
        Volume(dir, "v", 128 * Block);
        await using (var d = await DaemonProcess.StartAsync(dir, "--volume", Spec(dir, "v.origin")))
        {
            QemuIo(d, "v", "write 0 4k");
            Assert.Equal(0, await d.StopAsync());
        }
        using (var f = new FileStream(dir.File("v.meta"), FileMode.Open)) f.Write(new byte[4096]);
        var before = TempDir.Hash(dir.File("v.meta"));

        var refused = DaemonProcess.RunToExit(dir, "--volume", Spec(dir, "v.origin"));
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("superblock is all zeroes but block 1 holds data", Output(refused));
        Assert.Contains("format=yes", Output(refused));
        Assert.Equal(before, TempDir.Hash(dir.File("v.meta")));

        await using (var d = await DaemonProcess.StartAsync(dir, "--volume", Spec(dir, "v.origin", ",format=yes")))
        {
            Assert.Contains("formatting metadata over old contents (format=yes)", d.Log);
            Assert.Contains("/1 1 -", d.Admin("status", "v").StdOut.Replace("/2048 ", "/1 "));
        }
    }

    [Fact]
    public void A_superblock_whose_block_count_was_lowered_is_refused_naming_it_not_taken_as_a_resize()
    {
        using var dir = new TempDir();
        Volume(dir, "v", 128 * Block);
        using (var md = EraMetadata.Open(MetadataDevice.Open(dir.File("v.meta"), true, DeviceLock.Exclusive), 128))
        {
            md.Resize(128);
            md.Rollover();
            md.MarkBlocks([3, 127]);
            md.Commit();
        }
        using (var device = MetadataDevice.Open(dir.File("v.meta"), true, DeviceLock.Exclusive))
        {
            var block = (EraSuperblock.Read(device) with { NrBlocks = 100 }).Pack();
            BlockValidator.Prepare(0, block, BlockKind.Superblock);
            device.Write(0, block);
            device.Flush();
        }
        var before = TempDir.Hash(dir.File("v.meta"));
        var refused = DaemonProcess.RunToExit(dir, "--volume", Spec(dir, "v.origin"));
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("superblock block 0: nr_blocks 100 disagrees with the era array", Output(refused));
        Assert.Equal(before, TempDir.Hash(dir.File("v.meta")));
    }

    [Fact]
    public void A_metadata_file_too_small_for_its_origin_is_refused_stating_the_minimum_metadata_size_computes()
    {
        using var dir = new TempDir();
        using (var f = File.Create(dir.File("v.origin"))) f.SetLength(64L << 20);
        using (var f = File.Create(dir.File("v.meta"))) f.SetLength(60 * 1024);
        var size = Dmera("metadata-size", "--origin-size", "64M", "--block-size", "8");
        Assert.True(size.ExitCode == 0, size.ToString());
        var minimum = long.Parse(size.StdOut.Trim());
        Assert.Equal(MetadataSizing.MinimumBytes(16_384), minimum);

        var refused = DaemonProcess.RunToExit(dir, "--volume", $"name=v,origin={dir.File("v.origin")},metadata={dir.File("v.meta")},block-size=8");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains($"need at least {minimum} bytes", Output(refused));

        using (var f = new FileStream(dir.File("v.meta"), FileMode.Open)) f.SetLength(minimum - 4096);
        Assert.Equal(1, DaemonProcess.RunToExit(dir, "--volume", $"name=v,origin={dir.File("v.origin")},metadata={dir.File("v.meta")},block-size=8").ExitCode);
    }

    [Fact]
    public async Task A_metadata_file_of_exactly_the_minimum_size_serves()
    {
        using var dir = new TempDir();
        using (var f = File.Create(dir.File("v.origin"))) f.SetLength(64L << 20);
        using (var f = File.Create(dir.File("v.meta"))) f.SetLength(MetadataSizing.MinimumBytes(16_384));
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", $"name=v,origin={dir.File("v.origin")},metadata={dir.File("v.meta")},block-size=8");
        QemuIo(d, "v", "write 0 1M");
        Assert.Equal(0, d.Admin("message", "v", "take_metadata_snap").ExitCode);
        QemuIo(d, "v", "write 0 2M");
        Assert.Equal(0, d.Admin("message", "v", "drop_metadata_snap").ExitCode);
    }
}
