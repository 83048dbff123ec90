using System.CommandLine;
using DmEra.Metadata;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.Era.Xml;
using DmEra.Metadata.PersistentData;

namespace DmEra.Tools;

/// <summary>dmera invalidate: the blocks written since an era, as era_invalidate lists them.</summary>
internal static class InvalidateTool
{
    public static Command Create()
    {
        var since = new Option<string>("--written-since") { Description = "List blocks written in this era or later", HelpName = "era" };
        var snapshot = new Option<bool>("--metadata-snapshot") { Description = "Read the held metadata snapshot (works on live metadata)" };
        var output = new Option<string>("--output", "-o") { Description = "Write the XML here instead of stdout", HelpName = "xml file" };
        var log = new Option<string>("--log") { Description = "The intent log to replay (default: META.log when it exists; not with --metadata-snapshot)", HelpName = "file" };
        var input = new Argument<string>("device|file") { Description = "Metadata device or file" };
        var command = new Command("invalidate", "List blocks that may have changed since a given era (era_invalidate)")
        {
            since, snapshot, output, log, input,
        };
        command.SetAction(parse => ToolRun.Guarded(() =>
            Run(parse.GetValue(input)!, parse.GetValue(since), parse.GetValue(snapshot), parse.GetValue(output), parse.GetValue(log))));
        return command;
    }

    private static int Run(string path, string? sinceText, bool useSnapshot, string? outputPath, string? logPath)
    {
        if (sinceText is null) throw new MetadataException("Please specify --written-since");
        if (!uint.TryParse(sinceText, out var since))
            throw new MetadataException($"--written-since {sinceText}: not an era (a whole number from 0 to {uint.MaxValue})");
        // A live volume's daemon holds an exclusive lock; its metadata snapshot is safe to read beside it.
        using var device = MetadataInput.OpenForReading(path, useSnapshot ? DeviceLock.None : DeviceLock.Shared);
        StrictRead.EnsureClean(device, useSnapshot);
        var reader = EraMetadataReader.Open(useSnapshot ? device : IntentLogInput.WithLog(device, IntentLogInput.Resolve(path, logPath)), useSnapshot);
        // No era past the current one has begun: an empty list would read as "nothing changed" (era_invalidate
        // prints one), which a backup script would take for a clean incremental.
        if (since > reader.CurrentEra)
            throw new MetadataException($"--written-since {since} is beyond the current era {reader.CurrentEra} of {path}: that era has not begun");
        using var output = new OutputFile(outputPath);
        var writer = new InvalidateXmlWriter(output.Writer);
        WrittenSince.Find(reader, since, (begin, end) => writer.AddRange(begin, end));
        writer.Complete();
        output.Complete();
        return 0;
    }
}
