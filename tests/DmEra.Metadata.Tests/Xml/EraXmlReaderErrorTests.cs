using System.Text;
using DmEra.Metadata.Era.Xml;
using Xunit;

namespace DmEra.Metadata.Tests.Xml;

public sealed class EraXmlReaderErrorTests
{
    private const string Sb = "<superblock uuid=\"\" block_size=\"128\" nr_blocks=\"4\" current_era=\"5\">";

    private static EraXmlException Fail(string xml) => Fail(Encoding.UTF8.GetBytes(xml));

    private static EraXmlException Fail(byte[] input)
    {
        var e = Assert.Throws<EraXmlException>(() => EraXmlReader.Read(new MemoryStream(input), new RecordingVisitor()));
        Assert.IsAssignableFrom<MetadataException>(e);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    public static TheoryData<string, string> StructuralErrors() => new()
    {
        { $"{Sb}<bit block=\"1\" value=\"true\"/></superblock>", "<bit> outside a <writeset>" },
        { $"{Sb}<era block=\"1\" era=\"1\"/></superblock>", "<era> outside the <era_array>" },
        { $"{Sb}<writeset era=\"1\" nr_bits=\"4\"><writeset era=\"2\" nr_bits=\"4\"/></writeset></superblock>", "unexpected <writeset> inside <writeset>" },
        { $"{Sb}<era_array/><writeset era=\"1\" nr_bits=\"4\"/></superblock>", "<writeset> after <era_array>" },
        { $"{Sb}<era_array/><era_array/></superblock>", "a second <era_array>" },
        { $"{Sb}<writeset era=\"1\" nr_bits=\"4\"/><writeset era=\"1\" nr_bits=\"4\"/></superblock>", "a second <writeset> for era 1" },
        { $"{Sb}<foo/></superblock>", "unexpected <foo> inside <superblock>" },
        { $"{Sb}<era_array><bit block=\"0\" value=\"true\"/></era_array></superblock>", "unexpected <bit> inside <era_array>" },
        { $"{Sb}<superblock/></superblock>", "unexpected <superblock> inside <superblock>" },
        { $"{Sb}<era_array><era block=\"0\" era=\"1\"><era block=\"1\" era=\"1\"/></era></era_array></superblock>", "<era> inside <era>" },
        { "<blocks/>", "expected <superblock> as the document element, found <blocks>" },
        { "<x:superblock xmlns:x=\"urn:x\" uuid=\"\" block_size=\"8\" nr_blocks=\"1\" current_era=\"0\"/>", "found <x:superblock>" },
        { $"{Sb}</superblock>{Sb}</superblock>", "malformed XML" },
        { $"{Sb}<era_array>", "malformed XML" },
        { $"{Sb}<era_array></superblock>", "malformed XML" },
        { "<!DOCTYPE superblock [<!ENTITY x \"y\">]><superblock/>", "malformed XML" },
    };

    [Theory]
    [MemberData(nameof(StructuralErrors))]
    public void Reader_rejects_misplaced_elements_with_a_one_line_message(string xml, string problem)
    {
        var e = Fail(xml);
        Assert.Contains(problem, e.Message);
    }

    public static TheoryData<string, string> ValueErrors() => new()
    {
        { "era=\"-1\"", "era=\"-1\" is not an unsigned 32-bit decimal number" },
        { "era=\"4294967296\"", "era=\"4294967296\" is not an unsigned 32-bit decimal number" },
        { "era=\"0x10\"", "is not an unsigned 32-bit decimal number" },
        { "era=\" 3\"", "is not an unsigned 32-bit decimal number" },
        { "era=\"3x\"", "is not an unsigned 32-bit decimal number" },
        { "era=\"\"", "is not an unsigned 32-bit decimal number" },
        { "era=\"1e3\"", "is not an unsigned 32-bit decimal number" },
    };

    [Theory]
    [MemberData(nameof(ValueErrors))]
    public void Reader_rejects_numbers_that_are_not_plain_u32_decimals(string attribute, string problem)
    {
        var e = Fail($"{Sb}\n<era_array>\n<era block=\"1\" {attribute}/></era_array></superblock>");
        Assert.Contains(problem, e.Message);
        Assert.StartsWith("era XML line 3, column 2:", e.Message);
    }

    public static TheoryData<string, string> RangeErrors() => new()
    {
        { $"{Sb}<writeset era=\"1\" nr_bits=\"4\"><bit block=\"4\" value=\"true\"/></writeset></superblock>", "<bit> block 4 is out of range: the writeset has nr_bits 4" },
        { $"{Sb}<writeset era=\"1\" nr_bits=\"4\"><marked block_begin=\"2\" len=\"3\"/></writeset></superblock>", "<marked> blocks 2..5 run past the writeset's nr_bits 4" },
        { $"{Sb}<era_array><era block=\"4\" era=\"1\"/></era_array></superblock>", "<era> block 4 is out of range: the superblock has nr_blocks 4" },
        { "<superblock uuid=\"\" block_size=\"128\" nr_blocks=\"0\" current_era=\"0\"/>", "nr_blocks=\"0\"" },
        { $"{Sb}<writeset era=\"1\" nr_bits=\"0\"/></superblock>", "has nr_bits=\"0\"" },
        { $"{Sb}<writeset era=\"1\" nr_bits=\"4\"><bit block=\"1\" value=\"1\"/></writeset></superblock>", "<bit> value=\"1\" is not \"true\" or \"false\"" },
        { $"{Sb}<writeset era=\"1\" nr_bits=\"4\"><bit block=\"1\"/></writeset></superblock>", "<bit> has no value attribute" },
        { "<superblock block_size=\"128\" nr_blocks=\"4\" current_era=\"5\"/>", "<superblock> has no uuid attribute" },
        { $"{Sb}<era_array><era era=\"1\"/></era_array></superblock>", "<era> has no block attribute" },
    };

    [Theory]
    [MemberData(nameof(RangeErrors))]
    public void Reader_rejects_out_of_range_blocks_and_missing_or_bad_attributes(string xml, string problem)
    {
        Assert.Contains(problem, Fail(xml).Message);
    }

    [Theory]
    [InlineData("", "input is empty")]
    [InlineData("  \n\t ", "input holds only blank characters")]
    [InlineData("hello world", "input is not XML: it starts with 'h', expected '<'")]
    [InlineData("{\"superblock\": 1}", "input is not XML: it starts with '{'")]
    public void Reader_recognises_text_that_is_not_xml_before_parsing(string input, string problem)
    {
        Assert.Contains(problem, Fail(input).Message);
    }

    [Fact]
    public void Reader_refuses_binary_metadata_after_reading_only_its_first_bytes()
    {
        // A whole metadata device handed to restore: the answer must come from the first block, not the last.
        var read = 0L;
        var device = new CountingStream(new byte[] { 0x8D, 0x2C, 0x00, 0x00 }.Concat(new byte[64 << 20]).ToArray(), n => read += n);
        var e = Assert.Throws<EraXmlException>(() => EraXmlReader.Read(device, new RecordingVisitor()));
        Assert.Contains("binary data", e.Message);
        Assert.Contains("0x8D", e.Message);
        Assert.True(read <= 4096, $"read {read} bytes before refusing");
    }

    [Fact]
    public void Reader_names_the_line_and_column_of_malformed_xml()
    {
        var e = Fail($"{Sb}\n  <era_array>\n    <era block=\"0\" era=\"1\">\n  </era_array>\n</superblock>\n");
        Assert.StartsWith("era XML line 4, column", e.Message);
        Assert.Contains("malformed XML", e.Message);
    }

    private sealed class CountingStream(byte[] data, Action<int> onRead) : MemoryStream(data)
    {
        // Only the array overload: MemoryStream routes Span reads of subclasses through it.
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = base.Read(buffer, offset, count);
            onRead(n);
            return n;
        }
    }
}
