using DmEra.Metadata.Era.Xml;
using DmEra.Metadata.Tests.Xml;
using Xunit;

namespace DmEra.Metadata.Tests.Interop;

/// <summary>
/// Small metadata images made by era_restore 0.9.0, with their dumps and era_invalidate outputs.
/// The reader/writer tests need no tools; the others check that the fixtures still say what the
/// installed tools say, so a stale fixture cannot silently bless a wrong implementation.
/// </summary>
public sealed class GoldenFixtureTests
{
    public static TheoryData<string> Names() => new(GoldenFixtures.Names);

    public static TheoryData<string, string> Dumps()
    {
        var data = new TheoryData<string, string>();
        foreach (var name in GoldenFixtures.Names)
        {
            data.Add(name, "dump");
            data.Add(name, "logical");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Dumps))]
    public void Our_reader_and_writer_reproduce_each_golden_dump_byte_for_byte(string name, string kind)
    {
        using var tools = new RealEraTools(); // only for its temporary directory
        var golden = GoldenFixtures.PathOf($"{name}.{kind}.xml");
        var ours = tools.PathOf("ours.xml");
        EraXmlFiles.Rewrite(golden, ours);
        FileAssert.SameBytes(golden, ours, name);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Era_restore_of_each_golden_input_writes_exactly_the_golden_image(string name)
    {
        using var tools = new RealEraTools();
        var expected = tools.PathOf("golden.metadata");
        GoldenFixtures.ExtractImage(name, expected);
        var restored = tools.CreateMetadataFile("restored.metadata", new FileInfo(expected).Length);
        tools.Restore(GoldenFixtures.PathOf($"{name}.input.xml"), restored).EnsureSuccess();
        FileAssert.SameBytes(expected, restored, name);
    }

    [Theory]
    [MemberData(nameof(Dumps))]
    public void Era_dump_of_each_golden_image_prints_the_golden_dump(string name, string kind)
    {
        using var tools = new RealEraTools();
        var image = tools.PathOf("golden.metadata");
        GoldenFixtures.ExtractImage(name, image);
        Assert.Equal(0, tools.Check(image).ExitCode);
        var dump = tools.PathOf("dump.xml");
        tools.Dump(image, dump, logical: kind == "logical").EnsureSuccess();
        FileAssert.SameBytes(GoldenFixtures.PathOf($"{name}.{kind}.xml"), dump, name);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Each_golden_invalidate_list_matches_the_tool_the_dump_and_our_writer(string name)
    {
        using var tools = new RealEraTools();
        var image = tools.PathOf("golden.metadata");
        GoldenFixtures.ExtractImage(name, image);
        var eras = GoldenFixtures.InvalidateEras(name).ToList();
        Assert.NotEmpty(eras);

        foreach (var era in eras)
        {
            var golden = EraXmlFiles.Blocks(File.ReadAllText(GoldenFixtures.PathOf($"{name}.invalidate-{era}.xml")));
            Assert.Equal(golden, EraXmlFiles.Blocks(tools.Invalidate(image, era).EnsureSuccess().StdOut));
            Assert.Equal(golden, InvalidatedAccordingToDump(name, era));
            var ours = EraXmlFiles.WriteInvalidate(golden);
            Assert.Equal(golden, EraXmlFiles.Blocks(ours));
            Assert.Equal(File.ReadAllText(GoldenFixtures.PathOf($"{name}.invalidate-{era}.xml")), ours);
        }
    }

    [Fact]
    public void The_three_writeset_fixture_lists_the_blocks_the_rust_tools_tests_expect()
    {
        // tests/era_invalidate.rs in thin-provisioning-tools, same metadata (dm-era.md §3.5).
        var since3 = EraXmlFiles.Blocks(File.ReadAllText(GoldenFixtures.PathOf("three-writesets.invalidate-3.xml")));
        Assert.Equal([new BlockRange(0, 2), new BlockRange(4, 6), new BlockRange(8, 10)], since3);
        var since2 = EraXmlFiles.Blocks(File.ReadAllText(GoldenFixtures.PathOf("three-writesets.invalidate-2.xml")));
        Assert.Equal([new BlockRange(0, 3), new BlockRange(4, 6), new BlockRange(8, 10), new BlockRange(12, 14)], since2);
    }

    /// <summary>era_invalidate's rule applied to the plain dump: era array value ≥ era, or marked by a writeset of era ≥ era.</summary>
    private static IReadOnlyList<BlockRange> InvalidatedAccordingToDump(string name, uint since)
    {
        var events = new RecordingVisitor();
        using (var dump = File.OpenRead(GoldenFixtures.PathOf($"{name}.dump.xml")))
            EraXmlReader.Read(dump, events);

        var blocks = new List<BlockRange>();
        uint writesetEra = 0;
        foreach (var e in events.Events.Select(e => e.Split(' ')))
        {
            if (e[0] == "writeset") writesetEra = uint.Parse(e[1]);
            else if (e[0] == "bit" && e[2] == "True" && writesetEra >= since) blocks.Add(new BlockRange(long.Parse(e[1]), long.Parse(e[1]) + 1));
            else if (e[0] == "era" && uint.Parse(e[2]) >= since) blocks.Add(new BlockRange(long.Parse(e[1]), long.Parse(e[1]) + 1));
        }
        return InvalidateXml.Normalise(blocks);
    }
}
