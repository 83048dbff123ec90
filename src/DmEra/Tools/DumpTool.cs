using System.CommandLine;
using DmEra.Metadata;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.Era.Xml;
using DmEra.Metadata.PersistentData;

namespace DmEra.Tools;

/// <summary>dmera dump: era_dump's XML, byte for byte (with --logical folding to the newest era).</summary>
internal static class DumpTool
{
    public static Command Create()
    {
        var output = new Option<string>("--output", "-o") { Description = "Write the XML here instead of stdout", HelpName = "xml file" };
        var repair = new Option<bool>("--repair") { Description = "Dump what can be read of damaged metadata" };
        var logical = new Option<bool>("--logical") { Description = "Fold unprocessed writesets into the era array: one era per block" };
        var snapshot = new Option<bool>("--metadata-snapshot") { Description = "Dump the held metadata snapshot (works on live metadata)" };
        var log = new Option<string>("--log") { Description = "The intent log to replay (default: META.log when it exists; not with --metadata-snapshot)", HelpName = "file" };
        var input = new Argument<string>("device|file") { Description = "Metadata device or file" };
        var command = new Command("dump", "Dump era metadata as XML (era_dump)") { output, repair, logical, snapshot, log, input };
        command.SetAction(parse => ToolRun.Guarded(() =>
            Run(parse.GetValue(input)!, parse.GetValue(output), parse.GetValue(logical), parse.GetValue(repair), parse.GetValue(snapshot), parse.GetValue(log))));
        return command;
    }

    private static int Run(string path, string? outputPath, bool logical, bool repair, bool useSnapshot, string? logPath)
    {
        // A live volume's daemon holds an exclusive lock; its metadata snapshot is safe to read beside it.
        using var device = MetadataInput.OpenForReading(path, useSnapshot ? DeviceLock.None : DeviceLock.Shared);
        if (!repair) StrictRead.EnsureClean(device, useSnapshot, "\nperhaps you wanted to run with --repair ?");
        var reader = EraMetadataReader.Open(useSnapshot || repair ? device : IntentLogInput.WithLog(device, IntentLogInput.Resolve(path, logPath)), useSnapshot);
        using var output = new OutputFile(outputPath);
        try
        {
            MetadataDumper.Dump(reader, new EraXmlWriter(output.Writer), logical, repair);
        }
        catch (MetadataException e) when (!repair)
        {
            output.Writer.Flush();
            throw new MetadataException(
                $"metadata contains errors (run dmera check for details): {e.Message}\nperhaps you wanted to run with --repair ?", e);
        }
        output.Complete();
        return 0;
    }
}
