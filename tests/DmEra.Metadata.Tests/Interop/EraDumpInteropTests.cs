using DmEra.Metadata.Era.Xml;
using Xunit;

namespace DmEra.Metadata.Tests.Interop;

/// <summary>
/// Random metadata through the real C++ tools: our XML → era_restore → era_check → era_dump, and the
/// dump must be exactly what our writer predicts from the model, and must survive our reader and
/// writer byte for byte.
/// </summary>
public sealed class EraDumpInteropTests
{
    public static TheoryData<int> Seeds()
    {
        var seeds = new TheoryData<int>();
        for (var seed = 1; seed <= 24; seed++) seeds.Add(seed);
        return seeds;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Era_dump_prints_what_our_writer_predicts_and_our_reader_and_writer_reproduce_it(int seed)
    {
        var shape = RandomEraMetadataXml.Create(seed);
        RoundTrip(shape);
    }

    [Theory]
    [InlineData(101, 1u)]
    [InlineData(102, 64u)]
    [InlineData(103, 1018u)]
    [InlineData(104, 1019u)]
    [InlineData(105, 32577u)]
    public void Era_dump_round_trips_at_array_and_bitset_block_boundaries(int seed, uint nrBlocks) =>
        RoundTrip(RandomEraMetadataXml.Create(seed, nrBlocks));

    [Fact]
    public void A_million_block_device_round_trips_through_the_real_tools()
    {
        // Once, at 2^20 blocks: proves the writer, the reader and the generator stream. Seed 7005 draws
        // scattered eras up to current_era = 2^32-1 and one dense writeset: ~2M lines per dump, ~8 s here.
        var shape = RandomEraMetadataXml.Create(7_005, 1_048_576);
        Assert.Single(shape.Writesets);
        RoundTrip(shape, invalidateEras: 2);
    }

    private static void RoundTrip(RandomEraMetadataXml shape, int invalidateEras = 3)
    {
        using var tools = new RealEraTools();
        var input = tools.PathOf("input.xml");
        var metadata = tools.CreateMetadataFile("metadata.bin");
        shape.WriteRestoreInput(input);

        tools.Restore(input, metadata).EnsureSuccess();
        var check = tools.Check(metadata);
        Assert.True(check.ExitCode == 0, $"era_check rejected restored metadata for {shape}\n{check}");

        foreach (var logical in new[] { false, true })
        {
            var dump = tools.PathOf(logical ? "logical.xml" : "dump.xml");
            tools.Dump(metadata, dump, logical).EnsureSuccess();

            var predicted = tools.PathOf(logical ? "predicted-logical.xml" : "predicted.xml");
            shape.WriteExpectedDump(predicted, logical);
            FileAssert.SameBytes(dump, predicted, $"{(logical ? "--logical " : "")}{shape}");

            var rewritten = tools.PathOf(logical ? "rewritten-logical.xml" : "rewritten.xml");
            EraXmlFiles.Rewrite(dump, rewritten);
            FileAssert.SameBytes(dump, rewritten, $"{(logical ? "--logical " : "")}{shape}");
        }

        foreach (var era in InvalidateEras(shape, invalidateEras))
        {
            var real = tools.Invalidate(metadata, era).EnsureSuccess();
            var blocks = EraXmlFiles.Blocks(real.StdOut);
            Assert.Equal(shape.ExpectedInvalidated(era).ToList(), blocks);
            var ours = EraXmlFiles.WriteInvalidate(blocks);
            Assert.Equal(blocks, EraXmlFiles.Blocks(ours));
            // Byte for byte what era_invalidate 0.9.0 prints, ` end = ` spacing included.
            Assert.Equal(real.StdOut, ours);
        }
    }

    /// <summary>0 (everything), the oldest writeset's era, one past the current era (nothing), and random ones.</summary>
    private static IEnumerable<uint> InvalidateEras(RandomEraMetadataXml shape, int count)
    {
        var random = new Random(shape.Seed);
        var eras = new List<uint> { 0 };
        if (shape.Writesets.Count > 0) eras.Add(shape.Writesets[0].Era);
        if (shape.CurrentEra < uint.MaxValue) eras.Add(shape.CurrentEra + 1);
        eras.Add((uint)random.NextInt64(0, (long)shape.CurrentEra + 1));
        return eras.Distinct().Take(count + 1);
    }
}
