using DmEra.Metadata.Era.Xml;
using Xunit;

namespace DmEra.Metadata.Tests.Xml;

public sealed class EraXmlWriterTests
{
    private static string Write(Action<EraXmlWriter> events)
    {
        var text = new StringWriter();
        events(new EraXmlWriter(text));
        return text.ToString();
    }

    [Fact]
    public void Writer_prints_a_dump_with_era_dumps_indentation_attribute_order_and_final_newline()
    {
        var xml = Write(w =>
        {
            w.SuperblockBegin("", 128, 2, 5);
            w.WritesetBegin(3, 2);
            w.WritesetBit(0, true);
            w.WritesetBit(1, false);
            w.WritesetEnd();
            w.EraArrayBegin();
            w.Era(0, 0);
            w.Era(1, 4);
            w.EraArrayEnd();
            w.SuperblockEnd();
        });

        // Byte layout copied from C++ era_dump 0.9.0 output (see Fixtures/README.md).
        Assert.Equal(
            "<superblock uuid=\"\" block_size=\"128\" nr_blocks=\"2\" current_era=\"5\">\n" +
            "  <writeset era=\"3\" nr_bits=\"2\">\n" +
            "    <bit block=\"0\" value=\"true\"/>\n" +
            "    <bit block=\"1\" value=\"false\"/>\n" +
            "  </writeset>\n" +
            "  <era_array>\n" +
            "    <era block=\"0\" era=\"0\"/>\n" +
            "    <era block=\"1\" era=\"4\"/>\n" +
            "  </era_array>\n" +
            "</superblock>\n", xml);
    }

    [Fact]
    public void Writer_prints_the_largest_u32_values_in_full()
    {
        var xml = Write(w =>
        {
            w.SuperblockBegin("", uint.MaxValue, uint.MaxValue, uint.MaxValue);
            w.WritesetBegin(uint.MaxValue, uint.MaxValue);
            w.WritesetBit(uint.MaxValue - 1, true);
            w.WritesetMarked(uint.MaxValue - 1, uint.MaxValue);
        });
        Assert.Equal(
            "<superblock uuid=\"\" block_size=\"4294967295\" nr_blocks=\"4294967295\" current_era=\"4294967295\">\n" +
            "  <writeset era=\"4294967295\" nr_bits=\"4294967295\">\n" +
            "    <bit block=\"4294967294\" value=\"true\"/>\n" +
            "    <marked block_begin=\"4294967294\" len=\"4294967295\"/>\n", xml);
    }

    [Fact]
    public void Writer_escapes_markup_in_the_uuid_so_the_document_stays_well_formed()
    {
        var xml = Write(w => w.SuperblockBegin("a&b<\"c\">", 8, 1, 0));
        Assert.StartsWith("<superblock uuid=\"a&amp;b&lt;&quot;c&quot;&gt;\" block_size=\"8\"", xml);
    }
}
