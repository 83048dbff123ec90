using DmEra.Metadata.Era;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.Era.Xml;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Tests.Interop;

/// <summary>
/// Our binary metadata against the real C++ tools, both ways: what era_restore writes we dump and
/// query exactly as era_dump and era_invalidate do; what we restore era_check accepts and era_dump
/// prints exactly as it prints era_restore's own image of the same XML.
/// </summary>
public sealed class MetadataInteropTests
{
    public static TheoryData<int, uint> Shapes()
    {
        var data = new TheoryData<int, uint>();
        for (var seed = 201; seed <= 216; seed++) data.Add(seed, 0);
        foreach (var n in new uint[] { 1, 63, 64, 65, 509 * 64, 509 * 64 + 1, 1018, 1019, 100_000 })
            data.Add(300 + (int)(n % 97), n);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Our_dump_restore_and_invalidate_agree_with_the_real_tools(int seed, uint nrBlocks)
    {
        var shape = nrBlocks == 0 ? RandomEraMetadataXml.Create(seed) : RandomEraMetadataXml.Create(seed, nrBlocks);
        RoundTrip(shape);
    }

    [Fact]
    public void A_million_block_device_agrees_with_the_real_tools()
    {
        RoundTrip(RandomEraMetadataXml.Create(7_005, 1_048_576), eras: 2);
    }

    [Fact]
    public void A_metadata_snapshot_we_take_is_what_era_invalidate_reads_with_metadata_snapshot()
    {
        using var tools = new RealEraTools();
        var path = tools.CreateMetadataFile("live.bin", 16L << 20);
        using (var md = EraMetadata.Open(MetadataDevice.Open(path, true, DeviceLock.Exclusive), 128))
        {
            md.Resize(100_000);
            md.Rollover();
            md.MarkBlocks([5, 6, 7, 40_000, 99_999]);
            md.Commit();
            md.Rollover();
            md.MarkBlocks([6, 70_000]);
            md.Commit();
            md.TakeSnapshot();
            md.Commit();
            Assert.Equal("8 ", md.Status.ToString()[..2]);
            Assert.EndsWith($" {md.CurrentEra} {md.MetadataSnap}", md.Status.ToString());
        }
        Assert.Equal(0, tools.Check(path).ExitCode);
        foreach (var era in new uint[] { 0, 1, 2, 3 })
        {
            var real = tools.Run("era_invalidate", "--written-since", era.ToString(), "--metadata-snapshot", path).EnsureSuccess();
            using var device = MetadataDevice.Open(path, false, DeviceLock.None);
            Assert.Equal(EraXmlFiles.Blocks(real.StdOut), OurWrittenSince(EraMetadataReader.Open(device, useMetadataSnapshot: true), era));
        }
        Assert.True(MetadataChecker.Check(MetadataDevice.Open(path, false, DeviceLock.Shared)).IsClean);
    }

    private static void RoundTrip(RandomEraMetadataXml shape, int eras = 3)
    {
        using var tools = new RealEraTools();
        var input = tools.PathOf("input.xml");
        shape.WriteRestoreInput(input);
        var theirs = tools.CreateMetadataFile("theirs.bin");
        tools.Restore(input, theirs).EnsureSuccess();

        var ours = tools.CreateMetadataFile("ours.bin");
        using (var device = MetadataDevice.Open(ours, true, DeviceLock.Exclusive))
        using (var xml = File.OpenRead(input))
            EraXmlReader.Read(xml, new MetadataRestorer(device));
        var check = tools.Check(ours);
        Assert.True(check.ExitCode == 0, $"era_check rejected our restore of {shape}\n{check}");

        using var theirDevice = MetadataDevice.Open(theirs, false, DeviceLock.Shared);
        using var ourDevice = MetadataDevice.Open(ours, false, DeviceLock.Shared);
        var ourReport = MetadataChecker.Check(ourDevice);
        Assert.True(ourReport.IsClean && ourReport.Warnings.All(w => w.Contains("multiple of 8")),
            $"{shape}: {string.Join("; ", ourReport.Errors.Concat(ourReport.Warnings))}");
        var theirReport = MetadataChecker.Check(theirDevice);
        Assert.True(theirReport.IsClean, $"{shape}: {string.Join("; ", theirReport.Errors)}");

        foreach (var logical in new[] { false, true })
        {
            var flag = logical ? "logical" : "plain";
            var realDump = tools.PathOf($"real-{flag}.xml");
            tools.Dump(theirs, realDump, logical).EnsureSuccess();
            var realDumpOfOurs = tools.PathOf($"real-ours-{flag}.xml");
            tools.Dump(ours, realDumpOfOurs, logical).EnsureSuccess();
            FileAssert.SameBytes(realDump, realDumpOfOurs, $"era_dump of our restore ({flag}) {shape}");

            var ourDump = tools.PathOf($"our-{flag}.xml");
            using (var output = File.Create(ourDump))
            using (var text = EraXmlWriter.CreateStreamWriter(output))
                MetadataDumper.Dump(EraMetadataReader.Open(theirDevice), new EraXmlWriter(text), logical);
            if (!logical || !shape.CxxLogicalDumpDiffers())
            {
                FileAssert.SameBytes(realDump, ourDump, $"our dump ({flag}) {shape}");
                continue;
            }
            // era_dump 0.9.0 --logical lets the oldest marking writeset win (std::map::insert keeps the
            // first); we print the newest era, which is what the block's era is.
            var newest = tools.PathOf("newest-logical.xml");
            shape.WriteNewestLogicalDump(newest);
            FileAssert.SameBytes(newest, ourDump, $"our dump (logical, newest era) {shape}");
        }

        var random = new Random(shape.Seed);
        var candidates = new List<uint> { 0, shape.CurrentEra, (uint)random.NextInt64(0, (long)shape.CurrentEra + 1) };
        if (shape.Writesets.Count > 0) candidates.Add(shape.Writesets[0].Era);
        foreach (var era in candidates.Distinct().Take(eras + 1))
        {
            var real = EraXmlFiles.Blocks(tools.Invalidate(theirs, era).EnsureSuccess().StdOut);
            Assert.Equal(real, OurWrittenSince(EraMetadataReader.Open(theirDevice), era));
            Assert.Equal(real, OurWrittenSince(EraMetadataReader.Open(ourDevice), era));
        }
    }

    private static IReadOnlyList<BlockRange> OurWrittenSince(EraMetadataReader reader, uint era)
    {
        var ranges = new List<BlockRange>();
        WrittenSince.Find(reader, era, (b, e) => ranges.Add(new BlockRange(b, e)));
        return InvalidateXml.Normalise(ranges);
    }
}

/// <summary>Odd but legal inputs: what era_restore and era_check accept, we restore and accept too.</summary>
public sealed class LenientInputInteropTests
{
    [Fact]
    public void Writesets_out_of_order_and_beyond_the_current_era_restore_and_check_as_with_the_real_tools()
    {
        using var tools = new RealEraTools();
        var input = tools.PathOf("odd.xml");
        File.WriteAllText(input, """
            <superblock uuid="" block_size="128" nr_blocks="4" current_era="5">
              <writeset era="9" nr_bits="4">
                <bit block="1" value="true"/>
              </writeset>
              <writeset era="3" nr_bits="4">
                <bit block="2" value="true"/>
              </writeset>
              <era_array>
                <era block="0" era="2"/>
              </era_array>
            </superblock>
            """);
        var theirs = tools.CreateMetadataFile("theirs.bin", 1 << 20);
        tools.Restore(input, theirs).EnsureSuccess();
        var ours = tools.CreateMetadataFile("ours.bin", 1 << 20);
        using (var device = MetadataDevice.Open(ours, true, DeviceLock.Exclusive))
        using (var xml = File.OpenRead(input))
            EraXmlReader.Read(xml, new MetadataRestorer(device));
        Assert.Equal(0, tools.Check(ours).ExitCode);
        var theirDump = tools.PathOf("theirs.xml");
        var ourDump = tools.PathOf("ours.xml");
        tools.Dump(theirs, theirDump).EnsureSuccess();
        tools.Dump(ours, ourDump).EnsureSuccess();
        FileAssert.SameBytes(theirDump, ourDump, "era_dump of both restores");
        using var device2 = MetadataDevice.Open(theirs, false, DeviceLock.Shared);
        var report = MetadataChecker.Check(device2);
        Assert.True(report.IsClean, string.Join("; ", report.Errors));
        Assert.Contains(report.Warnings, w => w.Contains("era 9 is newer"));
    }
}
