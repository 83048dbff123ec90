using System.CommandLine;
using System.Globalization;
using DmEra.Metadata;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;

namespace DmEra.Tools;

/// <summary>
/// dmera metadata-size: the smallest metadata device for an origin, in the spirit of thin_metadata_size.
/// Prints bytes alone on stdout so it composes: <c>truncate -s $(dmera metadata-size ...) era0.meta</c>.
/// It is the minimum <c>dmera serve</c> demands at start.
/// </summary>
internal static class MetadataSizeTool
{
    public static Command Create()
    {
        var originSize = new Option<string>("--origin-size", "-s") { Description = "Origin size in bytes, or with a K, M, G or T suffix (powers of 1024)", HelpName = "size" };
        var blockSize = new Option<string>("--block-size", "-b") { Description = "Tracking block size in 512-byte sectors (a multiple of 8)", HelpName = "sectors" };
        var command = new Command("metadata-size", "Print the smallest metadata device (bytes) for an origin and block size") { originSize, blockSize };
        command.SetAction(parse => ToolRun.Guarded(() => Run(parse.GetValue(originSize), parse.GetValue(blockSize))));
        return command;
    }

    private static int Run(string? originText, string? blockText)
    {
        if (originText is null) throw new MetadataException("Please specify --origin-size");
        if (blockText is null) throw new MetadataException("Please specify --block-size");
        var origin = ParseSize(originText);
        if (!uint.TryParse(blockText, NumberStyles.None, CultureInfo.InvariantCulture, out var sectors) || sectors == 0 || sectors % 8 != 0)
            throw new MetadataException($"--block-size {blockText}: must be a positive multiple of 8 sectors (4 KiB), e.g. 128 for 64 KiB");
        var nrBlocks = MetadataSizing.TrackingBlocks(origin, sectors);
        if (nrBlocks > EraMetadata.MaxNrBlocks)
            throw new MetadataException($"{nrBlocks} tracking blocks: the limit is {EraMetadata.MaxNrBlocks} (2^31 - 1); use a larger block size");
        var blocks = MetadataSizing.MinimumBlocks(nrBlocks);
        if (blocks > SpaceMapBitmap.MaxMetadataBlocks)
            throw new MetadataException($"{nrBlocks} tracking blocks need {blocks} metadata blocks, more than the format's {SpaceMapBitmap.MaxMetadataBlocks}; use a larger block size");
        Console.Out.WriteLine((blocks * MetadataBlock.Size).ToString(CultureInfo.InvariantCulture));
        return 0;
    }

    private static long ParseSize(string text)
    {
        var t = text.Trim();
        var shift = t.Length > 0 ? char.ToUpperInvariant(t[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 } : 0;
        var digits = shift > 0 ? t[..^1] : t;
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0 || n > long.MaxValue >> shift)
            throw new MetadataException($"--origin-size {text}: expected a positive size in bytes, or with a K, M, G or T suffix");
        return n << shift;
    }
}
