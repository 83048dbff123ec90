using DmEra.Metadata.Era;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.PersistentData;
using DmEra.Tools;
using SkiaSharp;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Tools;

public sealed class EraMapTests
{
    /// <summary>64 blocks: the first 32 written in era 1, the rest never; now in era 2.</summary>
    private static MetadataDevice HalfWritten(uint nrBlocks = 64)
    {
        var device = MetadataDevice.InMemory(1024);
        var md = EraMetadata.Format(device, 8);
        md.Resize(nrBlocks);
        md.Rollover();
        md.MarkBlocks(Enumerable.Range(0, (int)nrBlocks / 2).Select(b => (uint)b).ToArray());
        md.Rollover();
        md.DigestAll();
        md.Commit();
        return device;
    }

    [Fact]
    public void Cells_hold_the_newest_era_or_the_fraction_changed_of_the_blocks_they_cover()
    {
        var reader = EraMetadataReader.Open(HalfWritten(1000));
        var eras = EraMap.Build(reader, since: null, maxColumns: 10, maxRows: 10);
        Assert.Equal(10, eras.BlocksPerCell);          // 1000 blocks into at most 10 x 10 cells
        Assert.Equal(1, eras.Cells[0, 0]);             // blocks 0-9: era 1
        Assert.Equal(1, eras.Cells[4, 9]);             // blocks 490-499
        Assert.Equal(0, eras.Cells[5, 0]);             // blocks 500-509: never written
        var changed = EraMap.Build(reader, since: 1, maxColumns: 7, maxRows: 7);
        Assert.Equal(21, changed.BlocksPerCell);       // ceil(1000 / 49)
        var straddling = 500 / 21;                     // cell 23 holds blocks 483-503: 17 of 21 written
        Assert.Equal(17.0 / 21, changed.Cells[straddling / 7, straddling % 7], 6);
    }

    [Fact]
    public void The_png_shows_written_blocks_bright_and_untouched_ones_dark_where_they_lie()
    {
        using var dir = new TempDir();
        var map = EraMap.Build(EraMetadataReader.Open(HalfWritten()), since: 1, maxColumns: 8, maxRows: 8);
        var png = dir.File("map.png");
        MapTool.Render(map, png, 256, legend: false);
        using var bitmap = SKBitmap.Decode(png);
        Assert.Equal(256, bitmap.Width);
        Brightness(bitmap.GetPixel(128, 40)).Should(b => b > 600);    // top half: written since era 1
        Brightness(bitmap.GetPixel(128, 216)).Should(b => b < 100);   // bottom half: untouched
        Brightness(bitmap.GetPixel(10, 10)).Should(b => b > 600);
        Brightness(bitmap.GetPixel(245, 250)).Should(b => b < 100);
    }

    [Fact]
    public void Dmera_map_writes_a_png_for_a_metadata_file_and_refuses_a_bad_width()
    {
        using var dir = new TempDir();
        var image = dir.Fixture("odd-block-size");
        var png = dir.File("odd.png");
        var r = Dmera("map", image, "--since", "38", "-o", png);
        Assert.True(r.ExitCode == 0, r.ToString());
        using (var bitmap = SKBitmap.Decode(png)) Assert.True(bitmap.Width == 1024 && bitmap.Height > 1024);
        var bad = Dmera("map", image, "--width", "5", "-o", png);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("--width", bad.StdErr);
    }

    private static int Brightness(SKColor c) => c.Red + c.Green + c.Blue;
}

internal static class IntAssertions
{
    public static void Should(this int value, Func<int, bool> test) => Assert.True(test(value), $"value {value}");
}
