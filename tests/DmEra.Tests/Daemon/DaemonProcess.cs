using System.Diagnostics;
using System.Text;
using DmEra.Tests.Tools;

namespace DmEra.Tests.Daemon;

/// <summary>
/// A real `dmera serve` in a temp directory: NBD on a Unix socket and on 127.0.0.1:0 (never 10809),
/// its own admin socket. Stopped by SIGTERM to its process id (and killed if it does not go), its
/// directory removed with it.
/// </summary>
public sealed class DaemonProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private bool _disposed;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private DaemonProcess(TempDir dir, Process process)
    {
        Dir = dir;
        _process = process;
        Pid = process.Id;
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public TempDir Dir { get; }
    public string NbdSocket => Dir.File("nbd.sock");
    public string AdminSocket => Dir.File("admin.sock");
    /// <summary>Kept from the start: a disposed Process has no id, and an error message or a cleanup may still want it.</summary>
    public int Pid { get; }
    public string Log { get { lock (_log) return _log.ToString(); } }

    /// <summary>Exited, or disposed (then it is stopped too).</summary>
    public bool HasExited => _disposed || _process.HasExited;

    public string Uri(string volume) => $"nbd+unix:///{volume}?socket={NbdSocket}";

    /// <summary>Starts the daemon; <paramref name="extraArgs"/> follow `serve` (volumes, flags).</summary>
    public static async Task<DaemonProcess> StartAsync(TempDir dir, params string[] extraArgs)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = dir.Path,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "dmera.dll"), "serve", "--listen", "127.0.0.1:0",
                     "--socket", dir.File("nbd.sock"), "--admin-socket", dir.File("admin.sock") }.Concat(extraArgs))
            psi.ArgumentList.Add(a);
        var daemon = new DaemonProcess(dir, Process.Start(psi)!);
        var exited = daemon._process.WaitForExitAsync();
        var first = await Task.WhenAny(daemon._ready.Task, exited, Task.Delay(StartTimeout));
        if (first != daemon._ready.Task)
        {
            await daemon.DisposeAsync();
            throw new InvalidOperationException($"dmera serve did not come up (pid {daemon.Pid}):\n{daemon.Log}");
        }
        return daemon;
    }

    /// <summary>Runs a process that is expected to fail to start (refused configuration); returns its exit code and output.</summary>
    public static ProcessResult RunToExit(TempDir dir, params string[] extraArgs) =>
        DmeraProcess.Dmera(["serve", "--listen", "127.0.0.1:0", "--socket", dir.File("nbd2.sock"), "--admin-socket", dir.File("admin2.sock"), .. extraArgs]);

    private void OnLine(string? line)
    {
        if (line is null) return;
        lock (_log) _log.AppendLine(line);
        if (line.Contains("dmera serving", StringComparison.Ordinal)) _ready.TrySetResult();
    }

    public ProcessResult Admin(params string[] args) => DmeraProcess.Dmera([.. args, "--admin-socket", AdminSocket]);

    /// <summary>SIGTERM, as systemd or Ctrl-C would; returns the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (_process.HasExited) return _process.ExitCode;
        Mono.Unix.Native.Syscall.kill(_process.Id, Mono.Unix.Native.Signum.SIGTERM);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dmera serve (pid {Pid}) did not stop on SIGTERM:\n{Log}");
        }
        return _process.ExitCode;
    }

    /// <summary>kill -9: no chance to commit anything more.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        if (!_process.HasExited)
        {
            try
            {
                await StopAsync(TimeSpan.FromSeconds(30));
            }
            catch (TimeoutException)
            {
            }
        }
        _disposed = true;
        _process.Dispose();
    }
}
