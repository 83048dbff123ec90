using System.CommandLine;
using DmEra.Admin;
using DmEra.Backup;
using DmEra.Daemon;
using DmEra.Tools;

if (!BitConverter.IsLittleEndian)
{
    // The metadata format and the in-memory bitsets are little-endian throughout.
    Console.Error.WriteLine("dmera runs on little-endian machines only");
    return 1;
}

var root = new RootCommand("DmEra: the Linux dm-era target (changed-block tracking) in userspace, served over NBD")
{
    ServeCommand.Create(),
    AdminCommands.Message(),
    AdminCommands.Status(),
    AdminCommands.Volumes(),
    AdminCommands.Nodes(),
    ConsoleCommand.Create(),
    CheckTool.Create(),
    DumpTool.Create(),
    InvalidateTool.Create(),
    RestoreTool.Create(),
    MapTool.Create(),
    MetadataSizeTool.Create(),
    BackupCommands.Create(),
};
var parsed = root.Parse(args);
// Wrong arguments get their one-line error, not the error followed by the whole help text (--help still shows it).
if (parsed.Action is System.CommandLine.Invocation.ParseErrorAction parseError) parseError.ShowHelp = false;
return await parsed.InvokeAsync();
