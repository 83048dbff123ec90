using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using DmEra.Tests.Tools;
using static DmEra.Tests.Daemon.DaemonEndToEndTests;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Daemon;

/// <summary>Idle sockets cost their own budget, never a real client's turn (issue 15 item 12).</summary>
public sealed class ConnectionLimitTests
{
    /// <summary>True when the server has closed the socket (a read returns 0 or fails) within the bound.</summary>
    private static bool ClosedByServer(Socket s, TimeSpan within)
    {
        s.ReceiveTimeout = (int)within.TotalMilliseconds;
        var buffer = new byte[4096];
        try
        {
            while (true)
                if (s.Receive(buffer) == 0) return true;   // skip an error line, wait for the close
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut || e.SocketErrorCode == SocketError.WouldBlock)
        {
            return false;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    [Fact]
    public async Task A_hundred_and_twenty_idle_tcp_sockets_do_not_lock_a_real_client_out()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "v"));
        var port = int.Parse(Regex.Match(d.Log, @"NBD server listening on 127\.0\.0\.1:(\d+)").Groups[1].Value);
        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < 120; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                s.Connect(new IPEndPoint(IPAddress.Loopback, port));
                idle.Add(s);
            }
            // More than max-connections (100) idle sockets are open; a real client still gets in at once.
            var r = Run("qemu-io", "-f", "raw", "-c", "write -P 0x42 0 4k", "-c", "read -P 0x42 0 4k", $"nbd://127.0.0.1:{port}/v");
            Assert.True(r.ExitCode == 0 && !r.StdOut.Contains("fail", StringComparison.OrdinalIgnoreCase), r.ToString());
            Assert.Contains("still in the handshake", d.Log);
        }
        finally
        {
            foreach (var s in idle) s.Dispose();
        }
    }

    private static async Task<(DaemonProcess Daemon, TempDir Dir)> StartWithAsync(string daemonSettings)
    {
        var dir = new TempDir();
        var config = dir.File("limits.hocon");
        File.WriteAllText(config, $"dmera.daemon {{ {daemonSettings} }}\n");
        return (await DaemonProcess.StartAsync(dir, "--config", config, "--volume", Volume(dir, "v")), dir);
    }

    private static Socket ConnectAdmin(DaemonProcess d)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Connect(new UnixDomainSocketEndPoint(d.AdminSocket));
        return s;
    }

    [Fact]
    public async Task Idle_admin_connections_beyond_the_bound_close_the_oldest_and_commands_still_run()
    {
        var (d, dir) = await StartWithAsync("admin-max-connections = 4, admin-idle-timeout = 10m");
        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < 8; i++) idle.Add(ConnectAdmin(d));
            var status = d.Admin("status", "v");
            Assert.True(status.ExitCode == 0, status.ToString());
            // Those idle longest were closed to admit the later ones (the idle timeout is 10 minutes): of 8 idle
            // connections and the status command's, at most 4 were open at once.
            var deadline = DateTime.UtcNow.AddSeconds(10);
            int Closed() => idle.Count(s => s.Poll(0, SelectMode.SelectRead) && s.Available == 0);
            while (Closed() < 4 && DateTime.UtcNow < deadline) await Task.Delay(50);
            Assert.True(Closed() >= 4, $"{Closed()} of 8 idle admin connections were closed");
        }
        finally
        {
            foreach (var s in idle) s.Dispose();
            await d.DisposeAsync();
            dir.Dispose();
        }
    }

    [Fact]
    public async Task An_idle_admin_connection_is_closed_after_the_idle_timeout()
    {
        var (d, dir) = await StartWithAsync("admin-idle-timeout = 1s");
        try
        {
            using var s = ConnectAdmin(d);
            Assert.True(ClosedByServer(s, TimeSpan.FromSeconds(30)), "an idle admin connection was never timed out");
        }
        finally
        {
            await d.DisposeAsync();
            dir.Dispose();
        }
    }
}
