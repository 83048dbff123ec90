using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Tools;

/// <summary>
/// Live metadata read through its held snapshot (issue 15 item 15): dump and check take
/// --metadata-snapshot as invalidate does, and work while another process holds the metadata
/// exclusively, as a daemon does. invalidate prints the very bytes era_invalidate prints.
/// </summary>
public sealed class MetadataSnapshotToolTests
{
    [Fact]
    public void Dump_and_check_read_the_held_snapshot_while_the_metadata_is_held_and_changing()
    {
        using var dir = new TempDir();
        var path = dir.File("meta.bin");
        using (var f = File.Create(path)) f.SetLength(4 << 20);
        using var md = EraMetadata.Open(MetadataDevice.Open(path, true, DeviceLock.Exclusive), 128);
        md.Resize(3000);
        md.Rollover();
        md.MarkBlocks([1, 2, 2999]);
        md.Commit();
        md.Rollover();
        md.MarkBlocks([5, 1000]);
        md.TakeSnapshot();
        md.Commit();
        var atSnapshot = dir.File("at-snapshot.bin");
        Assert.Equal(0, Run("cp", path, atSnapshot).ExitCode);   // cp ignores the flock .NET's File.Copy honours
        // The "daemon" goes on: new writes, a checkpoint and a digest move the live trees away.
        md.MarkBlocks([7, 8, 9]);
        md.Commit();
        md.Rollover();
        md.DigestAll();
        md.Commit();

        Assert.Contains("in use", Dmera("dump", path).StdErr);
        var expected = Run("era_dump", atSnapshot);
        Assert.True(expected.ExitCode == 0, expected.ToString());
        var dump = Dmera("dump", "--metadata-snapshot", path);
        Assert.True(dump.ExitCode == 0, dump.ToString());
        Assert.Equal(expected.StdOut, dump.StdOut);
        Assert.Equal(Run("era_dump", "--logical", atSnapshot).StdOut, Dmera("dump", "--logical", "--metadata-snapshot", path).StdOut);

        var check = Dmera("check", "--metadata-snapshot", path);
        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.Contains("metadata snapshot", check.StdErr);
    }

    [Fact]
    public void Dump_and_check_with_metadata_snapshot_say_when_none_is_held()
    {
        using var dir = new TempDir();
        var image = dir.Fixture("three-writesets");
        foreach (var tool in new[] { "dump", "check" })
        {
            var r = Dmera(tool, "--metadata-snapshot", image);
            Assert.True(r.ExitCode == 1, $"{tool}: {r}");
            Assert.Contains("no metadata snapshot taken.", r.StdErr);
            Assert.Empty(r.StdOut);
        }
    }

    [Theory]
    [InlineData("three-writesets", 0u)]
    [InlineData("three-writesets", 2u)]
    [InlineData("three-writesets", 5u)]
    [InlineData("odd-block-size", 39u)]
    public void Invalidate_prints_byte_for_byte_what_the_real_era_invalidate_prints(string fixture, uint era)
    {
        using var dir = new TempDir();
        var image = dir.Fixture(fixture);
        var real = Run("era_invalidate", "--written-since", era.ToString(), image);
        Assert.True(real.ExitCode == 0, real.ToString());
        var ours = Dmera("invalidate", "--written-since", era.ToString(), image);
        Assert.True(ours.ExitCode == 0, ours.ToString());
        Assert.Equal(real.StdOut, ours.StdOut);
    }
}
