using System.Text;
using DmEra.Metadata.Era.Xml;
using DmEra.Metadata.Tests.Xml;
using Xunit;

namespace DmEra.Metadata.Tests.Interop;

/// <summary>
/// Our reader against era_restore 0.9.0 on the same inputs: where they agree, and the few places where
/// we refuse on purpose what 0.9.0 takes. If a tool update changes its mind, these tests say so.
/// </summary>
public sealed class ReaderAgreesWithEraRestoreTests
{
    private const string Sb = "<superblock uuid=\"\" block_size=\"128\" nr_blocks=\"4\" current_era=\"5\">";

    public static TheoryData<string> BothAccept() => new()
    {
        $"{Sb}<era_array><era block=\"3\" era=\"5\"/></era_array></superblock>",
        $"{Sb}<era_array><era block=\"2\" era=\"9\"/></era_array></superblock>", // era > current_era: era_check's business
        $"{Sb}<writeset era=\"7\" nr_bits=\"4\"><bit block=\"3\" value=\"true\"/></writeset><era_array/></superblock>",
        $"{Sb}<writeset era=\"2\" nr_bits=\"100\"><bit block=\"70\" value=\"true\"/></writeset><era_array/></superblock>",
        $"{Sb}<writeset era=\"4\" nr_bits=\"4\"/><writeset era=\"2\" nr_bits=\"4\"/><era_array/></superblock>",
        $"{Sb}<writeset era=\"2\" nr_bits=\"4\"/></superblock>",
        $"{Sb}<!-- note -->text<era_array><era block=\"1\" era=\"2\" extra=\"x\"/></era_array></superblock>",
        "<superblock uuid=\"\" block_size=\"100\" nr_blocks=\"1\" current_era=\"0\"/>",
    };

    public static TheoryData<string> BothRefuse() => new()
    {
        $"{Sb}<writeset era=\"3\" nr_bits=\"4\"><bit block=\"4\" value=\"true\"/></writeset></superblock>",
        $"{Sb}<era_array><era block=\"4\" era=\"1\"/></era_array></superblock>",
        $"{Sb}<era block=\"1\" era=\"1\"/></superblock>",
        $"{Sb}<writeset era=\"1\" nr_bits=\"4\"><writeset era=\"2\" nr_bits=\"4\"/></writeset></superblock>",
        $"{Sb}</superblock>{Sb}</superblock>",
        $"{Sb}<foo/></superblock>",
        $"{Sb}<writeset era=\"1\" nr_bits=\"4\"><markd block_begin=\"0\" len=\"2\"/></writeset></superblock>",
        $"{Sb}<era_array><era block=\"1\" era=\"4294967296\"/></era_array></superblock>",
        $"{Sb}<era_array><era block=\"1\" era=\"0x10\"/></era_array></superblock>",
        $"{Sb}<era_array><era block=\"1\" era=\" 3\"/></era_array></superblock>",
        $"{Sb}<era_array><era block=\"1\"/></era_array></superblock>",
        $"{Sb}<writeset era=\"1\" nr_bits=\"4\"><bit block=\"1\" value=\"1\"/></writeset></superblock>",
        "<superblock block_size=\"128\" nr_blocks=\"4\" current_era=\"5\"/>",
        "",
        "hello world",
        $"{Sb}<era_array>",
    };

    /// <summary>0.9.0 takes these; we refuse them because 0.9.0's own era_check/era_dump then fail, or the value is garbage.</summary>
    public static TheoryData<string> OnlyEraRestoreAccepts() => new()
    {
        "<superblock uuid=\"\" block_size=\"128\" nr_blocks=\"0\" current_era=\"0\"><era_array/></superblock>",
        $"{Sb}<writeset era=\"0\" nr_bits=\"0\"/></superblock>",
        $"{Sb}<era_array/><writeset era=\"2\" nr_bits=\"4\"/></superblock>",
        $"{Sb}<writeset era=\"4\" nr_bits=\"4\"/><writeset era=\"4\" nr_bits=\"4\"/></superblock>",
        $"{Sb}<era_array/><era_array/></superblock>",
        $"{Sb}<era_array><era block=\"1\" era=\"-1\"/></era_array></superblock>",
        // elements nested inside a leaf element
        $"{Sb}<writeset era=\"1\" nr_bits=\"4\"><bit block=\"1\" value=\"true\"><bit block=\"2\" value=\"true\"/></bit></writeset></superblock>",
    };

    [Theory]
    [MemberData(nameof(BothAccept))]
    public void Xml_era_restore_accepts_our_reader_accepts(string xml)
    {
        Assert.Equal(0, EraRestore(xml).ExitCode);
        Read(xml);
    }

    [Theory]
    [MemberData(nameof(BothRefuse))]
    public void Xml_era_restore_refuses_our_reader_refuses(string xml)
    {
        Assert.Equal(1, EraRestore(xml).ExitCode);
        Assert.Throws<EraXmlException>(() => Read(xml));
    }

    [Theory]
    [MemberData(nameof(OnlyEraRestoreAccepts))]
    public void Xml_our_reader_refuses_on_purpose_is_still_taken_by_era_restore(string xml)
    {
        Assert.Equal(0, EraRestore(xml).ExitCode);
        Assert.Throws<EraXmlException>(() => Read(xml));
    }

    [Fact]
    public void A_bit_outside_a_writeset_crashes_era_restore_and_is_an_error_for_us()
    {
        var xml = $"{Sb}<bit block=\"1\" value=\"true\"/></superblock>";
        Assert.NotEqual(0, EraRestore(xml).ExitCode); // 0.9.0 dereferences a null bitset: SIGSEGV, exit 139 from a shell
        Assert.Contains("<bit> outside a <writeset>", Assert.Throws<EraXmlException>(() => Read(xml)).Message);
    }

    [Fact]
    public void The_compact_marked_form_is_read_by_us_as_by_the_rust_tools_though_era_restore_0_9_0_refuses_it()
    {
        var xml = $"{Sb}<writeset era=\"1\" nr_bits=\"4\"><marked block_begin=\"1\" len=\"2\"/></writeset></superblock>";
        var restore = EraRestore(xml);
        Assert.Equal(1, restore.ExitCode);
        Assert.Equal("unknown tag type\n", restore.StdErr);
        Read(xml);
    }

    private static void Read(string xml) =>
        EraXmlReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(xml)), new RecordingVisitor());

    private static ToolResult EraRestore(string xml)
    {
        using var tools = new RealEraTools();
        var input = tools.PathOf("input.xml");
        File.WriteAllText(input, xml);
        return tools.Restore(input, tools.CreateMetadataFile("metadata.bin", 1 << 20));
    }
}
