using System.Diagnostics;

namespace DmEra.Crash.Tests.EndToEnd;

/// <summary>
/// The real daemon (dmera.dll beside the tests) serving one volume on files, NBD on a Unix socket, admin on
/// another. <see cref="KillNine"/> is SIGKILL by pid: no shutdown hook, no final commit, as a crash of the
/// process (the page cache survives, so this tests ordering and restart, not power loss).
/// </summary>
public sealed class DmeraDaemon : IDisposable
{
    private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(90);
    private readonly Process _process;
    private readonly Task<string> _stderr;

    private DmeraDaemon(Process process, string nbdSocket, string adminSocket)
    {
        _process = process;
        NbdSocket = nbdSocket;
        AdminSocket = adminSocket;
        _stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
    }

    public string NbdSocket { get; }
    public string AdminSocket { get; }
    public int Pid => _process.Id;

    public static string DmeraDll => Path.Combine(AppContext.BaseDirectory, "dmera.dll");

    public static async Task<DmeraDaemon> StartAsync(string dir, string volume, string origin, string metadata)
    {
        var nbd = Path.Combine(dir, "nbd.sock");
        var admin = Path.Combine(dir, "admin.sock");
        File.Delete(nbd);
        File.Delete(admin);
        var psi = BoundedProcess.StartInfo("dotnet", [DmeraDll, "serve",
            "--volume", $"name={volume},origin={origin},metadata={metadata},block-size=8",
            "--listen", "127.0.0.1:0", "--socket", nbd, "--admin-socket", admin]);
        psi.WorkingDirectory = dir;
        var daemon = new DmeraDaemon(Process.Start(psi)!, nbd, admin);
        var deadline = DateTime.UtcNow + StartLimit;
        while (!(File.Exists(nbd) && File.Exists(admin)))
        {
            if (daemon._process.HasExited)
                throw new InvalidOperationException($"dmera serve exited with {daemon._process.ExitCode}: {await daemon._stderr}");
            if (DateTime.UtcNow > deadline)
            {
                daemon.KillNine();
                throw new TimeoutException($"dmera serve (pid {daemon.Pid}) did not open its sockets within {StartLimit.TotalSeconds:0} s");
            }
            await Task.Delay(50);
        }
        return daemon;
    }

    /// <summary>`dmera message VOLUME MESSAGE`; returns its output (the new era for checkpoint).</summary>
    public string Message(string volume, string message)
    {
        var r = BoundedProcess.Run(TimeSpan.FromSeconds(60), "dotnet", DmeraDll, "message", "--admin-socket", AdminSocket, volume, message);
        if (r.ExitCode != 0) throw new InvalidOperationException($"dmera message {volume} {message}: {r}");
        return r.StdOut.Trim();
    }

    public void KillNine()
    {
        if (_process.HasExited) return;
        _process.Kill();   // SIGKILL to this pid only
        _process.WaitForExit(10_000);
    }

    public void Dispose()
    {
        KillNine();
        _process.Dispose();
    }
}
