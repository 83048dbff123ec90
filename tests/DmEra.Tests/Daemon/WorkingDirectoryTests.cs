using DmEra.Tests.Tools;
using static DmEra.Tests.Daemon.DaemonEndToEndTests;

namespace DmEra.Tests.Daemon;

public sealed class WorkingDirectoryTests
{
    /// <summary>
    /// The Generic Host's defaults watch the working directory's whole tree for appsettings.json changes
    /// (inotify). Serving from the directory that holds the origin, every write woke that watcher, which
    /// lstat'ed the file: a core's worth of syscalls under load. dmera reads no appsettings, so it must
    /// watch nothing.
    /// </summary>
    [Fact]
    public async Task Serving_from_the_volume_directory_watches_no_files()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("sub/deeper"));
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "v"));
        var watchers = Directory.GetFiles($"/proc/{d.Pid}/fd")
            .Select(fd => new FileInfo(fd).LinkTarget)
            .Where(target => target is not null && target.Contains("inotify", StringComparison.Ordinal))
            .ToList();
        Assert.Empty(watchers);
    }
}
