using DmEra.Metadata.Era.Xml;
using Xunit;

namespace DmEra.Metadata.Tests.Xml;

public sealed class InvalidateXmlTests
{
    private static string Write(Action<InvalidateXmlWriter> add)
    {
        var text = new StringWriter();
        var writer = new InvalidateXmlWriter(text);
        add(writer);
        writer.Complete();
        return text.ToString();
    }

    [Fact]
    public void Writer_prints_lone_blocks_as_block_and_longer_runs_as_half_open_ranges()
    {
        var xml = Write(w =>
        {
            w.Add(1);
            w.Add(3);
            w.Add(4);
            w.AddRange(7, 8);
            w.AddRange(10, 20);
        });
        Assert.Equal(
            "<blocks>\n" +
            "  <block block=\"1\"/>\n" +
            "  <range begin=\"3\" end = \"5\"/>\n" +
            "  <block block=\"7\"/>\n" +
            "  <range begin=\"10\" end = \"20\"/>\n" +
            "</blocks>\n", xml);
    }

    [Fact]
    public void Writer_merges_adjacent_blocks_and_ranges_into_one_run()
    {
        var xml = Write(w =>
        {
            w.Add(0);
            w.AddRange(1, 5);
            w.Add(5);
            w.AddRange(6, 6); // empty: ignored
            w.AddRange(6, 9);
        });
        Assert.Equal("<blocks>\n  <range begin=\"0\" end = \"9\"/>\n</blocks>\n", xml);
    }

    [Fact]
    public void Writer_prints_an_empty_list_as_an_empty_blocks_element()
    {
        Assert.Equal("<blocks>\n</blocks>\n", Write(_ => { }));
    }

    [Fact]
    public void Writer_can_end_a_range_one_past_the_largest_block_number()
    {
        var xml = Write(w => w.AddRange(uint.MaxValue - 1, (long)uint.MaxValue + 1));
        Assert.Contains("<range begin=\"4294967294\" end = \"4294967296\"/>", xml);
    }

    [Fact]
    public void Writer_refuses_blocks_that_do_not_ascend()
    {
        var writer = new InvalidateXmlWriter(new StringWriter());
        writer.AddRange(5, 10);
        Assert.Throws<ArgumentException>(() => writer.Add(9));
        Assert.Throws<ArgumentException>(() => writer.Add(2));
    }

    [Fact]
    public void Parser_reads_the_cpp_spacing_around_the_end_attribute()
    {
        var blocks = InvalidateXml.ParseBlocks(new StringReader(
            "<blocks>\n  <block block=\"1\"/>\n  <range begin=\"3\" end = \"5\"/>\n  <block block=\"7\"/>\n</blocks>\n"));
        Assert.Equal([new BlockRange(1, 2), new BlockRange(3, 5), new BlockRange(7, 8)], blocks);
    }

    [Fact]
    public void Parser_sorts_and_merges_so_equal_block_sets_compare_equal()
    {
        var blocks = InvalidateXml.ParseBlocks(new StringReader(
            "<blocks><range begin=\"8\" end=\"10\"/><block block=\"2\"/><range begin=\"3\" end=\"8\"/><range begin=\"9\" end=\"12\"/><range begin=\"20\" end=\"20\"/></blocks>"));
        Assert.Equal([new BlockRange(2, 12)], blocks);
    }

    [Theory]
    [InlineData("<blocks><foo/></blocks>", "unexpected <foo> inside <blocks>")]
    [InlineData("<superblock/>", "expected <blocks>")]
    [InlineData("<blocks><range begin=\"5\" end=\"3\"/></blocks>", "end 3 is below begin 5")]
    [InlineData("<blocks><block block=\"-1\"/></blocks>", "is not a block number")]
    [InlineData("<blocks><range begin=\"1\"/></blocks>", "<range> has no end attribute")]
    [InlineData("<blocks>", "malformed XML")]
    public void Parser_rejects_anything_but_blocks_and_ranges_with_a_one_line_message(string xml, string problem)
    {
        var e = Assert.Throws<EraXmlException>(() => InvalidateXml.ParseBlocks(new StringReader(xml)));
        Assert.Contains(problem, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
