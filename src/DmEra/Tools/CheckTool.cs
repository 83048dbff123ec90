using System.CommandLine;
using DmEra.Metadata.Era.Tools;

namespace DmEra.Tools;

/// <summary>dmera check: era_check's flags and exit codes, plus the space-map reference count check.</summary>
internal static class CheckTool
{
    public static Command Create()
    {
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print nothing; the exit code tells" };
        var superblockOnly = new Option<bool>("--super-block-only") { Description = "Check only the superblock" };
        var snapshot = new Option<bool>("--metadata-snapshot") { Description = "Check the held metadata snapshot (works on live metadata)" };
        var log = new Option<string>("--log") { Description = "The intent log to replay (default: META.log when it exists; not with --metadata-snapshot)", HelpName = "file" };
        var input = new Argument<string>("device|file") { Description = "Metadata device or file" };
        var command = new Command("check", "Check era metadata: everything era_check checks, plus the space map's reference counts")
        {
            quiet, superblockOnly, snapshot, log, input,
        };
        command.SetAction(parse => ToolRun.Guarded(() =>
            Run(parse.GetValue(input)!, parse.GetValue(quiet), parse.GetValue(superblockOnly), parse.GetValue(snapshot), parse.GetValue(log))));
        return command;
    }

    private static int Run(string path, bool quiet, bool superblockOnly, bool useSnapshot, string? logPath)
    {
        if (useSnapshot && superblockOnly) throw new Metadata.MetadataException("--metadata-snapshot and --super-block-only exclude each other");
        // A live volume's daemon holds an exclusive lock; its metadata snapshot is safe to read beside it.
        using var device = MetadataInput.OpenForReading(path, useSnapshot ? Metadata.PersistentData.DeviceLock.None : Metadata.PersistentData.DeviceLock.Shared);
        var say = quiet ? (Action<string>)(_ => { }) : Console.Error.WriteLine;
        say("examining superblock");
        CheckReport report;
        try
        {
            using var progress = TerminalProgress.Start("checking metadata blocks", device.BlockCount, quiet);
            report = useSnapshot ? MetadataChecker.CheckSnapshot(device, progress) : MetadataChecker.Check(device, superblockOnly, progress);
        }
        catch (Metadata.MetadataException e)
        {
            say("  superblock is corrupt");
            say($"    {e.Message}");
            return 1;
        }
        if (useSnapshot) say("examining metadata snapshot: writeset tree, era array");
        else if (!superblockOnly)
        {
            say("examining writeset tree, era array, current writeset, metadata snapshot");
            say("examining space map reference counts");
        }
        foreach (var error in report.Errors) say($"  {error}");
        foreach (var warning in report.Warnings) say($"  warning: {warning}");
        if (!report.IsClean || useSnapshot || superblockOnly) return report.IsClean ? 0 : 1;
        // The intent log must replay: a damaged header or marks of an era the metadata never reached are errors.
        if (IntentLogInput.Resolve(path, logPath) is not { } log) return 0;
        say($"examining intent log {log}");
        try
        {
            var replay = IntentLogInput.Inspect(device, log)!;
            say($"  {replay}");
        }
        catch (Metadata.MetadataException e)
        {
            say($"  {e.Message}");
            return 1;
        }
        return 0;
    }
}
