using System.CommandLine;
using DmEra.Tools;

var root = new RootCommand("DmEra: dm-era changed-block tracking in userspace, served over NBD")
{
    CheckTool.Create(),
    DumpTool.Create(),
    InvalidateTool.Create(),
    RestoreTool.Create(),
};
return root.Parse(args).Invoke();
