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
        var input = new Argument<string>("device|file") { Description = "Metadata device or file" };
        var command = new Command("check", "Check era metadata: everything era_check checks, plus the space map's reference counts")
        {
            quiet, superblockOnly, input,
        };
        command.SetAction(parse => ToolRun.Guarded(() =>
            Run(parse.GetValue(input)!, parse.GetValue(quiet), parse.GetValue(superblockOnly))));
        return command;
    }

    private static int Run(string path, bool quiet, bool superblockOnly)
    {
        using var device = MetadataInput.OpenForReading(path);
        var say = quiet ? (Action<string>)(_ => { }) : Console.Error.WriteLine;
        say("examining superblock");
        CheckReport report;
        try
        {
            using var progress = TerminalProgress.Start("checking metadata blocks", device.BlockCount, quiet);
            report = MetadataChecker.Check(device, superblockOnly, progress);
        }
        catch (Metadata.MetadataException e)
        {
            say("  superblock is corrupt");
            say($"    {e.Message}");
            return 1;
        }
        if (!superblockOnly)
        {
            say("examining writeset tree, era array, current writeset, metadata snapshot");
            say("examining space map reference counts");
        }
        foreach (var error in report.Errors) say($"  {error}");
        foreach (var warning in report.Warnings) say($"  warning: {warning}");
        return report.IsClean ? 0 : 1;
    }
}
