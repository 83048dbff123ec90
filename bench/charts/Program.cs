// Grouped bar charts (ScottPlot PNGs) of bench/peers' medians.
// Usage: dotnet run --project bench/charts -- MEDIANS.csv OUTPUT_PREFIX [NOTE]
// MEDIANS.csv is what bench/peers/report.py writes (section,job,transport,server,conns,iops,mibs,p50_us,p99_us,rounds;
// an empty cell is a missing value). Writes OUTPUT_PREFIX-iops.png, -connections.png, -throughput.png and
// -latency.png; a chart with no data is skipped. NOTE (say "quick run: an example, not a measurement") is
// added to every title.
using System.Globalization;
using ScottPlot;

if (args.Length is < 2 or > 3)
{
    Console.Error.WriteLine("usage: dmera-bench-charts MEDIANS.csv OUTPUT_PREFIX [NOTE]");
    return 2;
}
var rows = Row.ReadCsv(args[0]);
var prefix = args[1];
var note = args.Length == 3 && args[2].Length > 0 ? $" [{args[2]}]" : "";
var servers = new[] { "dmera", "nbdkit", "qemu", "qcow" };
var written = new List<string>();

void Chart(string suffix, string title, string yLabel, IReadOnlyList<(string Label, Func<string, double?> Value)> groups,
           IReadOnlyList<string> series, int width = 1400)
{
    if (groups.Count == 0) return;
    var values = groups.Select(g => series.Select(g.Value).ToArray()).ToArray();
    if (values.All(v => v.All(x => x is null))) return;
    var path = $"{prefix}-{suffix}.png";
    GroupedBars.Save(path, title + note, yLabel, groups.Select(g => g.Label).ToArray(), series.Select(Names.Of).ToArray(), values, width);
    written.Add(path);
}

double? Field(Row r, string field) => field switch
{
    "iops" => r.Iops, "mibs" => r.Mibs, "p50" => r.P50, "p99" => r.P99, _ => throw new ArgumentException(field),
};

// One group per distinct (job, transport[, conns]) in file order; one bar per server.
List<(string, Func<string, double?>)> Groups(IEnumerable<Row> selected, string field, bool withConns = false) =>
    selected.Select(r => (r.Job, r.Transport, Conns: withConns ? r.Conns : 0)).Distinct()
        .Select(k => ($"{k.Job}\n{k.Transport}{(withConns ? $" ×{k.Conns}" : "")}",
            (Func<string, double?>)(s => rows.FirstOrDefault(r => r.Job == k.Job && r.Transport == k.Transport
                && (!withConns || r.Conns == k.Conns) && r.Server == s && (withConns ? r.Section == "conns" : r.Section != "conns")) is { } hit
                ? Field(hit, field) : null)))
        .ToList();

Chart("iops", "4 KiB random I/O, one connection (median IOPS)", "IOPS",
    Groups(rows.Where(r => r.Section == "steady" && r.Job.StartsWith("4k-", StringComparison.Ordinal)), "iops"), servers);
Chart("connections", "4 KiB random I/O at QD16 per connection, 1/2/4 connections (median aggregate IOPS)", "IOPS",
    Groups(rows.Where(r => r.Section == "conns"), "iops", withConns: true), servers, width: 1800);
Chart("throughput", "Large sequential I/O and nbdcopy of 1 GiB (median MiB/s)", "MiB/s",
    Groups(rows.Where(r => (r.Section == "steady" && r.Job.StartsWith("1m-", StringComparison.Ordinal)) || r.Section == "copy"), "mibs"), servers);

// Latency: per fresh-era job, p50 and p99 completion latency per server, beside the daemon's commit time.
var latency = new List<(string, Func<string, double?>)>();
foreach (var job in rows.Where(r => r.Section == "fresh").Select(r => (r.Job, r.Transport)).Distinct())
    foreach (var stat in new[] { "p50", "p99" })
        latency.Add(($"{job.Job}\n{job.Transport} {stat}", s => rows.FirstOrDefault(r =>
            r.Job == job.Job && r.Transport == job.Transport && (s == "commit" ? r.Section == "commit" && r.Server == "dmera" : r.Section == "fresh" && r.Server == s))
            is { } hit ? Field(hit, stat) : null));
Chart("latency", "Fresh era: completion latency and dmera's metadata commit time (µs)", "µs",
    latency, ["dmera", "qcow", "commit"]);

foreach (var path in written) Console.WriteLine(path);
return 0;

internal static class Names
{
    public static string Of(string server) => server switch
    {
        "dmera" => "dmera",
        "nbdkit" => "nbdkit file",
        "qemu" => "qemu-nbd raw",
        "qcow" => "qemu-nbd qcow2 + bitmap",
        "commit" => "dmera metadata commit",
        _ => server,
    };
}

internal sealed record Row(string Section, string Job, string Transport, string Server, int Conns, double? Iops, double? Mibs, double? P50, double? P99)
{
    public static List<Row> ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToList();
        var header = lines[0].Split(',');
        int Col(string name) => Array.IndexOf(header, name) is var i and >= 0 ? i : throw new FormatException($"{path}: no column {name}");
        var (section, job, transport, server, conns) = (Col("section"), Col("job"), Col("transport"), Col("server"), Col("conns"));
        var (iops, mibs, p50, p99) = (Col("iops"), Col("mibs"), Col("p50_us"), Col("p99_us"));
        static double? Number(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : null;
        return lines.Skip(1).Select(l => l.Split(',')).Select(f => new Row(f[section], f[job], f[transport], f[server],
            int.TryParse(f[conns], out var c) ? c : 1, Number(f[iops]), Number(f[mibs]), Number(f[p50]), Number(f[p99]))).ToList();
    }
}

internal static class GroupedBars
{
    /// <summary>values[group][series]; a null value leaves a gap. Each bar carries its value as a label.</summary>
    public static void Save(string path, string title, string yLabel, string[] groups, string[] series, double?[][] values, int width)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        const double barWidth = 1, gap = 1;
        var stride = series.Length * barWidth + gap;
        var bars = new List<Bar>();
        for (var g = 0; g < groups.Length; g++)
            for (var s = 0; s < series.Length; s++)
                if (values[g][s] is { } v)
                    bars.Add(new Bar
                    {
                        Position = g * stride + s * barWidth,
                        Value = v,
                        Size = barWidth * 0.95,
                        FillColor = palette.GetColor(s),
                        LineWidth = 0,
                        Label = Format(v),
                    });
        var plottable = plot.Add.Bars(bars);
        plottable.ValueLabelStyle.FontSize = groups.Length * series.Length > 40 ? 8 : 10;
        for (var s = 0; s < series.Length; s++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[s], FillColor = palette.GetColor(s) });
        plot.Legend.Orientation = Orientation.Horizontal;
        plot.ShowLegend(Edge.Bottom);   // outside the data area: never over a bar
        var ticks = groups.Select((label, g) => new Tick(g * stride + (series.Length - 1) * barWidth / 2, label)).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.Bottom.TickLabelStyle.FontSize = 11;
        plot.Axes.Left.Label.Text = yLabel;
        plot.Title(title);
        plot.HideGrid();
        plot.Grid.YAxisStyle.IsVisible = true;
        plot.Axes.Margins(bottom: 0, top: 0.1);
        plot.SavePng(path, width, 560);
    }

    private static string Format(double v) => v >= 100 ? v.ToString("N0", CultureInfo.InvariantCulture) : v.ToString("0.#", CultureInfo.InvariantCulture);
}
