using System.Text;
using CsCheck;
using DmEra.Metadata.Era.Xml;
using Xunit;

namespace DmEra.Metadata.Tests.Xml;

public sealed class EraXmlReaderTests
{
    internal static List<string> Read(string xml)
    {
        var visitor = new RecordingVisitor();
        EraXmlReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(xml)), visitor);
        return visitor.Events;
    }

    [Fact]
    public void Reader_reports_every_element_as_an_event_in_document_order()
    {
        var events = Read("""
            <superblock uuid="" block_size="128" nr_blocks="3" current_era="5">
              <writeset era="3" nr_bits="3">
                <bit block="0" value="true"/>
                <bit block="2" value="false"/>
              </writeset>
              <writeset era="4" nr_bits="4">
                <marked block_begin="1" len="3"/>
              </writeset>
              <era_array>
                <era block="0" era="0"/>
                <era block="2" era="4294967295"/>
              </era_array>
            </superblock>
            """);
        Assert.Equal(
        [
            "superblock '' 128 3 5",
            "writeset 3 3", "bit 0 True", "bit 2 False", "/writeset",
            "writeset 4 4", "marked 1 3", "/writeset",
            "era_array", "era 0 0", "era 2 4294967295", "/era_array",
            "/superblock",
        ], events);
    }

    [Fact]
    public void Reader_ignores_comments_text_declarations_and_unknown_attributes_as_era_restore_does()
    {
        var events = Read("""
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- written by hand -->
            <superblock uuid="x" block_size="8" nr_blocks="1" current_era="1" flavour="vanilla">
              some text
              <era_array><era block="0" era="1" note="n"/></era_array>
            </superblock>
            """);
        Assert.Equal(["superblock 'x' 8 1 1", "era_array", "era 0 1", "/era_array", "/superblock"], events);
    }

    [Fact]
    public void Reader_reports_an_empty_era_array_when_the_document_has_none()
    {
        var events = Read("""<superblock uuid="" block_size="8" nr_blocks="4" current_era="0"/>""");
        Assert.Equal(["superblock '' 8 4 0", "era_array", "/era_array", "/superblock"], events);
    }

    [Fact]
    public void Reader_accepts_writesets_in_descending_era_order_as_era_restore_does()
    {
        var events = Read("""
            <superblock uuid="" block_size="8" nr_blocks="1" current_era="9">
              <writeset era="7" nr_bits="1"/><writeset era="2" nr_bits="1"/><era_array/>
            </superblock>
            """);
        Assert.Equal(["superblock '' 8 1 9", "writeset 7 1", "/writeset", "writeset 2 1", "/writeset",
            "era_array", "/era_array", "/superblock"], events);
    }

    [Fact]
    public void Reader_accepts_a_byte_order_mark_and_leading_blank_lines()
    {
        var bytes = new byte[] { 0xEF, 0xBB, 0xBF }.Concat(Encoding.UTF8.GetBytes("\n\n  <superblock uuid=\"\" block_size=\"8\" nr_blocks=\"1\" current_era=\"0\"/>")).ToArray();
        var visitor = new RecordingVisitor();
        EraXmlReader.Read(new MemoryStream(bytes), visitor);
        Assert.Equal("superblock '' 8 1 0", visitor.Events[0]);
    }

    [Fact]
    public void Whatever_the_writer_writes_the_reader_reads_back_to_the_same_bytes()
    {
        var gen =
            from nrBlocks in Gen.UInt[1, 300]
            from currentEra in Gen.UInt
            from writesets in Gen.Select(Gen.UInt, Gen.UInt[1, 300], Gen.Bool.Array[0, 300]).Array[0, 4]
            from eras in Gen.UInt.Array[0, 300]
            select (nrBlocks, currentEra, writesets, eras);

        gen.Sample(t =>
        {
            var text = new StringWriter();
            var writer = new EraXmlWriter(text);
            writer.SuperblockBegin("", 64, t.nrBlocks, t.currentEra);
            foreach (var (era, nrBits, bits) in t.writesets.DistinctBy(w => w.Item1))
            {
                writer.WritesetBegin(era, nrBits);
                for (var b = 0; b < bits.Length && b < nrBits; b++) writer.WritesetBit((uint)b, bits[b]);
                writer.WritesetEnd();
            }
            writer.EraArrayBegin();
            for (var b = 0; b < t.eras.Length && b < t.nrBlocks; b++) writer.Era((uint)b, t.eras[b]);
            writer.EraArrayEnd();
            writer.SuperblockEnd();

            var again = new StringWriter();
            EraXmlReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(text.ToString())), new EraXmlWriter(again));
            Assert.Equal(text.ToString(), again.ToString());
        }, iter: 300);
    }
}
