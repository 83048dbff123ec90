using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using DmEra.Tests.Tools;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Daemon;

/// <summary>The README's run command, on a fresh clone of the repository, as a new user types it.</summary>
public sealed class FreshCloneTests
{
    private static string RepositoryRoot([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));

    [Fact]
    public async Task Dotnet_run_serve_on_a_fresh_clone_comes_up_and_serves_era0()
    {
        using var dir = new TempDir();
        var clone = dir.File("clone");
        var git = Run("git", "clone", "--quiet", "--depth", "1", "file://" + RepositoryRoot(), clone);
        Assert.True(git.ExitCode == 0, git.ToString());
        var socket = dir.File("nbd.sock");
        // The README's command, plus flags that keep a test off the fixed port 10809.
        // The bound only guards against a hang: a cold `dotnet run` builds everything first (minutes on a loaded machine).
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = clone, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "run", "--project", "src/DmEra", "--", "serve", "--listen", "127.0.0.1:0", "--socket", socket }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var log = new StringBuilder();
        var ready = new TaskCompletionSource();
        void OnLine(string? l)
        {
            if (l is null) return;
            lock (log) log.AppendLine(l);
            if (l.Contains("dmera serving")) ready.TrySetResult();
        }
        p.OutputDataReceived += (_, e) => OnLine(e.Data);
        p.ErrorDataReceived += (_, e) => OnLine(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        try
        {
            var done = await Task.WhenAny(ready.Task, p.WaitForExitAsync(), Task.Delay(TimeSpan.FromMinutes(10)));
            Assert.True(done == ready.Task, $"dotnet run serve did not come up:\n{log}");
            var io = Run("qemu-io", "-f", "raw", "-c", "write -P 0x42 0 64k", "-c", "read -P 0x42 0 64k", $"nbd+unix:///era0?socket={socket}");
            Assert.True(io.ExitCode == 0 && !io.StdOut.Contains("fail"), io.ToString());
            Assert.True(File.Exists(Path.Combine(clone, "var", "era0.meta")));
        }
        finally
        {
            // dotnet run forwards SIGTERM to the daemon it started.
            Mono.Unix.Native.Syscall.kill(p.Id, Mono.Unix.Native.Signum.SIGTERM);
            if (!p.WaitForExit(TimeSpan.FromSeconds(60))) p.Kill(entireProcessTree: true);
        }
        Assert.Equal(0, Run("era_check", Path.Combine(clone, "var", "era0.meta")).ExitCode);
    }
}
