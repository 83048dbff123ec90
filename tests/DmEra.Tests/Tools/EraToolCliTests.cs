using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Tools;

/// <summary>The era tools as a user runs them: flags, output, exit codes, and one-line errors for bad input.</summary>
public sealed class EraToolCliTests
{
    [Theory]
    [InlineData("unknown option '--jsn'", "status", "--jsn")]
    [InlineData("--point takes a point number", "backup", "restore", "/nonexistent", "--point", "-1", "--to", "/nonexistent/x")]
    [InlineData("Unrecognized command or argument 'extra'", "dump", "/nonexistent", "extra")]
    public void Wrong_arguments_get_their_error_without_the_help_text(string error, params string[] args)
    {
        var r = Dmera(args);
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains(error, r.StdErr);
        Assert.Equal(1, r.StdErr.Trim().Split('\n').Length);
        Assert.DoesNotContain("Usage:", r.StdOut + r.StdErr);
    }

    [Fact]
    public void Check_accepts_an_image_era_restore_wrote_and_says_what_it_examined()
    {
        using var dir = new TempDir();
        var r = Dmera("check", dir.Fixture("three-writesets"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.StartsWith("examining superblock", r.StdErr);
        Assert.Empty(Dmera("check", "-q", dir.Fixture("three-writesets")).StdErr);
    }

    [Theory]
    [InlineData("three-writesets")]
    [InlineData("one-block")]
    [InlineData("odd-block-size")]
    public void Dump_prints_exactly_what_era_dump_prints(string fixture)
    {
        using var dir = new TempDir();
        var image = dir.Fixture(fixture);
        Assert.Equal(TempDir.FixtureText($"{fixture}.dump.xml"), Dmera("dump", image).StdOut);
        var output = dir.File("out.xml");
        Assert.Equal(0, Dmera("dump", "-o", output, image).ExitCode);
        Assert.Equal(TempDir.FixtureText($"{fixture}.dump.xml"), File.ReadAllText(output));
        Assert.Equal(TempDir.FixtureText($"{fixture}.logical.xml"), Dmera("dump", "--logical", image).StdOut);
    }

    [Theory]
    [InlineData("three-writesets", 0)]
    [InlineData("three-writesets", 2)]
    [InlineData("three-writesets", 3)]
    [InlineData("odd-block-size", 20)]
    [InlineData("odd-block-size", 38)]
    [InlineData("odd-block-size", 39)]
    public void Invalidate_lists_what_era_invalidate_lists(string fixture, int era)
    {
        using var dir = new TempDir();
        var ours = Dmera("invalidate", "--written-since", era.ToString(), dir.Fixture(fixture));
        Assert.True(ours.ExitCode == 0, ours.ToString());
        // Byte for byte, the C++ tool's "end = " spacing included.
        Assert.Equal(TempDir.FixtureText($"{fixture}.invalidate-{era}.xml"), ours.StdOut);
    }

    [Fact]
    public void Restore_writes_metadata_era_check_accepts_and_era_dump_prints_back()
    {
        using var dir = new TempDir();
        var output = dir.File("restored.bin");
        using (var f = File.Create(output)) f.SetLength(1 << 20);
        var xml = Path.Combine(AppContext.BaseDirectory, "Fixtures", "odd-block-size.dump.xml");
        Assert.Equal(0, Dmera("restore", "-i", xml, "-o", output).ExitCode);
        Assert.Equal(0, Run("era_check", output).ExitCode);
        Assert.Equal(TempDir.FixtureText("odd-block-size.dump.xml"), Run("era_dump", output).StdOut);
    }

    [Fact]
    public void Restore_of_bad_xml_fails_with_one_line_and_leaves_no_valid_superblock_behind()
    {
        using var dir = new TempDir();
        var output = dir.Fixture("three-writesets");
        var xml = dir.File("bad.xml");
        File.WriteAllText(xml, """<superblock uuid="" block_size="8" nr_blocks="4" current_era="1"><era_array><era block="9" era="1"/></era_array></superblock>""");
        var r = Dmera("restore", "-i", xml, "-o", output);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("line 1", r.StdErr);
        Assert.DoesNotContain("   at ", r.StdErr);
        Assert.NotEqual(0, Run("era_check", "-q", output).ExitCode);
    }

    public static TheoryData<string, string> BadInputs() => new()
    {
        { "missing", "No such file or directory" },
        { "directory", "Not a block device or regular file" },
        { "tiny", "too small" },
        { "xml", "looks like XML" },
        { "zeroed", "not been formatted" },
        { "thin", "thin-pool superblock, not era metadata" },
        { "stale-checksum", "checksum" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Every_tool_rejects_bad_input_with_a_clear_error_and_writes_nothing_to_it(string kind, string message)
    {
        using var dir = new TempDir();
        var input = MakeBadInput(dir, kind);
        var before = File.Exists(input) ? TempDir.Hash(input) : null;
        foreach (var args in new[] { new[] { "check" }, ["dump"], ["invalidate", "--written-since", "1"] })
        {
            var r = Dmera([.. args, input]);
            Assert.True(r.ExitCode == 1, $"{args[0]} {kind}: {r}");
            Assert.Contains(message, r.StdErr);
            Assert.DoesNotContain("   at ", r.StdErr);
            Assert.Empty(r.StdOut);
        }
        if (before is not null) Assert.Equal(before, TempDir.Hash(input));
    }

    [Fact]
    public void Invalidate_needs_an_era_and_a_snapshot_when_asked_for_one()
    {
        using var dir = new TempDir();
        var image = dir.Fixture("three-writesets");
        var r = Dmera("invalidate", image);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("Please specify --written-since", r.StdErr);
        r = Dmera("invalidate", "--written-since", "2", "--metadata-snapshot", image);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no metadata snapshot taken.", r.StdErr);
        r = Dmera("invalidate", "--written-since", "abc", image);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("not an era", r.StdErr);
    }

    private static string MakeBadInput(TempDir dir, string kind)
    {
        var path = dir.File(kind);
        switch (kind)
        {
            case "missing":
                break;
            case "directory":
                Directory.CreateDirectory(path);
                break;
            case "tiny":
                File.WriteAllBytes(path, new byte[100]);
                break;
            case "xml":
                File.WriteAllText(path, TempDir.FixtureText("odd-block-size.dump.xml"));
                break;
            case "zeroed":
                File.WriteAllBytes(path, new byte[65536]);
                break;
            case "thin":
                var block = new byte[65536];
                // A thin-pool superblock: its checksum salt (160774) is what era_check would trip over.
                var crc = Metadata.PersistentData.BlockChecksum.Compute(block.AsSpan(0, 4096), 160774);
                BitConverter.TryWriteBytes(block, crc);
                File.WriteAllBytes(path, block);
                break;
            case "stale-checksum":
                File.Copy(dir.Fixture("three-writesets"), path);
                using (var f = File.OpenWrite(path))
                {
                    f.Position = 180;
                    f.WriteByte(99);
                }
                break;
        }
        return path;
    }
}
