using System.Diagnostics;
using Xunit;

namespace DmEra.Metadata.Tests.Interop;

public sealed class RealEraToolsTests
{
    [Fact]
    public void A_tool_that_overruns_its_timeout_is_killed_by_pid_and_reported()
    {
        using var tools = new RealEraTools(TimeSpan.FromMilliseconds(300));
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<TimeoutException>(() => tools.Run("sleep", "30"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");

        var pid = int.Parse(e.Message.Split("(pid ")[1].Split(')')[0]);
        Assert.False(IsAlive(pid), $"process {pid} still runs");
    }

    [Fact]
    public void A_run_captures_the_exit_code_and_both_outputs()
    {
        using var tools = new RealEraTools();
        var result = tools.Run("era_check", tools.PathOf("missing.bin"));
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.StdOut);
        Assert.Equal($"{tools.PathOf("missing.bin")}: No such file or directory\n", result.StdErr);
    }

    [Fact]
    public void Disposing_removes_the_work_directory_and_its_files()
    {
        string dir;
        using (var tools = new RealEraTools())
        {
            dir = tools.WorkDir;
            tools.CreateMetadataFile("metadata.bin");
            Assert.True(File.Exists(Path.Combine(dir, "metadata.bin")));
        }
        Assert.False(Directory.Exists(dir));
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false; // no such process
        }
    }
}
