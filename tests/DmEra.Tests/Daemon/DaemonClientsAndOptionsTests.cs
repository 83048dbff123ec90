using System.Diagnostics;
using DmEra.Tests.Tools;
using static DmEra.Tests.Daemon.DaemonEndToEndTests;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Daemon;

/// <summary>The README's client commands and serve flags, against the real daemon.</summary>
public sealed class DaemonClientsAndOptionsTests
{
    [Fact]
    public async Task Nbdcopy_qemu_img_and_nbdinfo_see_the_volume_as_the_origin_holds_it()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "vm", 8L << 20));
        QemuIo(d, "vm", "write -P 0x3c 1M 256k");
        var list = Run("nbdinfo", "--list", $"nbd+unix://?socket={d.NbdSocket}");
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("export=\"vm\"", list.StdOut);
        var info = Run("qemu-img", "info", "--output=json", d.Uri("vm"));
        Assert.Contains("\"virtual-size\": 8388608", info.StdOut);
        var copy = dir.File("full-backup.img");
        Assert.Equal(0, Run("nbdcopy", d.Uri("vm"), copy).ExitCode);
        // The daemon holds the origin exclusively, so compare with what was written.
        var expected = new byte[8 << 20];
        expected.AsSpan(1 << 20, 256 << 10).Fill(0x3c);
        Assert.Equal(expected, File.ReadAllBytes(copy));
    }

    [Fact]
    public async Task A_read_only_volume_serves_reads_and_refuses_writes()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "ro"), "--read-only", "ro");
        var write = Run("qemu-io", "-f", "raw", "-c", "write 0 4k", d.Uri("ro"));
        Assert.True(write.ExitCode != 0 || write.StdOut.Contains("failed") || write.StdErr.Contains("read-only", StringComparison.OrdinalIgnoreCase), write.ToString());
        var read = Run("qemu-io", "-r", "-f", "raw", "-c", "read -P 0 0 4k", d.Uri("ro"));
        Assert.True(read.ExitCode == 0 && !read.StdOut.Contains("fail"), read.ToString());
        Assert.EndsWith(" 1 -", d.Admin("status", "ro").StdOut.Trim());
    }

    [Fact]
    public async Task A_settings_file_given_with_config_replaces_the_default_volumes()
    {
        using var dir = new TempDir();
        Volume(dir, "fromfile");
        var hocon = dir.File("my.hocon");
        File.WriteAllText(hocon, $$"""
            dmera.daemon {
              volumes = [ { name = fromfile, origin = "{{dir.File("fromfile.origin")}}", metadata = "{{dir.File("fromfile.meta")}}", block-size = 8 } ]
              listen = []
            }
            """);
        await using var d = await DaemonProcess.StartAsync(dir, "--config", hocon);
        Assert.Equal("fromfile", d.Admin("volumes").StdOut.Trim());
        QemuIo(d, "fromfile", "write 0 4k");
    }

    [Fact]
    public async Task The_console_runs_the_same_commands_from_piped_input()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "v"));
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "dmera.dll"), "console", "--admin-socket", d.AdminSocket }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        await p.StandardInput.WriteAsync("help\nstatus v\nmessage v checkpoint\nmessage v bogus\nwatch status v\nquit\n");
        p.StandardInput.Close();
        var output = await p.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Contains("take_metadata_snap", output);
        Assert.Contains("8 ", output);
        Assert.Contains("error: unsupported message 'bogus'", output);
        Assert.Contains(" 2 -", output);
        Assert.Equal(1, p.ExitCode);   // a scripted session with a failed command says so
    }
}
