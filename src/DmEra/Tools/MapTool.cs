using System.CommandLine;
using DmEra.Admin;
using DmEra.Metadata;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.PersistentData;
using ScottPlot;

namespace DmEra.Tools;

/// <summary>
/// dmera map: a heat map of a volume (PNG). Colour = the era each block was last written in, or with
/// --since, how much of each cell changed since that era. On a live volume it reads the held metadata
/// snapshot, so it never touches the metadata the daemon is writing.
/// </summary>
internal static class MapTool
{
    public static Command Create()
    {
        var target = new Argument<string>("volume|metadata") { Description = "A metadata file or device, or the name of a volume the running daemon serves" };
        var since = new Option<uint?>("--since") { Description = "Show what changed since this era instead of each block's era", HelpName = "era" };
        var output = new Option<string>("--output", "-o") { Description = "PNG to write", HelpName = "png", DefaultValueFactory = _ => "map.png" };
        var width = new Option<int>("--width") { Description = "Image width in pixels", DefaultValueFactory = _ => 1024 };
        var socket = AdminCommands.AdminSocketOption();
        var command = new Command("map", "Draw a volume's eras as a heat map (PNG); a live volume is read through its held metadata snapshot (take_metadata_snap first)")
        {
            target, since, output, width, socket,
        };
        command.SetAction(parse => ToolRun.Guarded(() =>
            Run(parse.GetValue(target)!, parse.GetValue(since), parse.GetValue(output)!, parse.GetValue(width), parse.GetValue(socket)!)));
        return command;
    }

    private static int Run(string target, uint? since, string output, int width, string adminSocket)
    {
        if (width is < 64 or > 8192) throw new MetadataException("--width must be between 64 and 8192 pixels");
        var path = File.Exists(target) || target.StartsWith("/dev/", StringComparison.Ordinal) ? target : MetadataPathOf(target, adminSocket);
        var map = Read(path, since, width);
        Render(map, output, width, legend: true);
        Console.Error.WriteLine($"{output}: {map.NrBlocks} blocks, {map.BlocksPerCell} per cell, current era {map.CurrentEra}");
        return 0;
    }

    /// <summary>Reads the metadata directly, or through the held snapshot when a daemon is using it.</summary>
    private static EraMap Read(string path, uint? since, int width)
    {
        var cells = Math.Max(16, width / 2);
        try
        {
            using var device = MetadataInput.OpenForReading(path);
            return EraMap.Build(EraMetadataReader.Open(device), since, cells, cells);
        }
        catch (MetadataException e) when (e.Message.Contains("in use by another process", StringComparison.Ordinal))
        {
            using var device = MetadataInput.OpenForReading(path, DeviceLock.None);
            try
            {
                return EraMap.Build(EraMetadataReader.Open(device, useMetadataSnapshot: true), since, cells, cells);
            }
            catch (MetadataException) when (EraSuperblockHasNoSnapshot(device))
            {
                throw new MetadataException($"{path} is live: run 'dmera message VOLUME take_metadata_snap' first, then draw the map");
            }
        }
    }

    private static bool EraSuperblockHasNoSnapshot(MetadataDevice device) => Metadata.Era.EraSuperblock.Read(device).MetadataSnap == 0;

    private static string MetadataPathOf(string volume, string adminSocket)
    {
        using var client = AdminClient.Connect(adminSocket);
        var json = client.SendAsync($"status-json {volume}").GetAwaiter().GetResult();
        using var doc = System.Text.Json.JsonDocument.Parse(json[0]);
        return doc.RootElement.GetProperty("metadata_path").GetString()
               ?? throw new MetadataException($"the daemon did not say where volume {volume}'s metadata is");
    }

    /// <summary>Renders the grid; without a legend the cells fill the image exactly (for pixel checks).</summary>
    public static void Render(EraMap map, string path, int width, bool legend)
    {
        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(map.Cells);
        heatmap.Colormap = map.Since is null ? new ScottPlot.Colormaps.Viridis() : new ScottPlot.Colormaps.Inferno();
        if (map.Since is null) heatmap.ManualRange = new ScottPlot.Range(0, Math.Max(1, map.CurrentEra));
        else heatmap.ManualRange = new ScottPlot.Range(0, 1);
        var rows = map.Cells.GetLength(0);
        var columns = map.Cells.GetLength(1);
        var height = Math.Max(32, (int)((double)width * rows / columns));
        if (legend)
        {
            var bar = plot.Add.ColorBar(heatmap);
            bar.Label = map.Since is { } s ? $"fraction of blocks written since era {s}" : "era of last write";
            plot.Title(map.Since is { } e
                ? $"changed since era {e}: {map.NrBlocks} blocks, {map.BlocksPerCell} per cell"
                : $"era of last write: {map.NrBlocks} blocks, {map.BlocksPerCell} per cell, current era {map.CurrentEra}");
            // The heat map draws row 0 on top at y = rows - 1: label rows by the first block they hold.
            var blocksPerRow = (long)columns * map.BlocksPerCell;
            var step = Math.Max(1, rows / 8);
            var rowTicks = Enumerable.Range(0, rows).Where(r => r % step == 0).ToArray();
            plot.Axes.Left.SetTicks(rowTicks.Select(r => (double)(rows - 1 - r)).ToArray(), rowTicks.Select(r => $"block {r * blocksPerRow}").ToArray());
            var columnStep = Math.Max(1, columns / 8);
            var columnTicks = Enumerable.Range(0, columns).Where(c => c % columnStep == 0).ToArray();
            plot.Axes.Bottom.SetTicks(columnTicks.Select(c => (double)c).ToArray(), columnTicks.Select(c => $"+{c * map.BlocksPerCell}").ToArray());
            plot.Axes.Left.Label.Text = $"rows of {blocksPerRow} blocks, first at the top";
            plot.Axes.Margins(0, 0);
            height += 120;
        }
        else
        {
            plot.Layout.Frameless();
            plot.Axes.Margins(0, 0);
        }
        plot.SavePng(path, width, height);
    }
}
