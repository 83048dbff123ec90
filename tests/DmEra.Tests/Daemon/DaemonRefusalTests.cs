using System.Text.RegularExpressions;
using DmEra.Tests.Tools;
using static DmEra.Tests.Daemon.DaemonEndToEndTests;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Daemon;

/// <summary>
/// Never served by the wrong daemon, never a stack trace for a person to read (issue 15 items 6-8, 13, 14):
/// real `dmera serve` processes against each other, their refusals read as a user would.
/// </summary>
public sealed class DaemonRefusalTests
{
    private static int TcpPort(DaemonProcess d) =>
        int.Parse(Regex.Match(d.Log, @"NBD server listening on 127\.0\.0\.1:(\d+)").Groups[1].Value);

    private static ProcessResult Serve(TempDir dir, string name, params string[] args) =>
        Dmera(["serve", "--admin-socket", dir.File($"{name}.admin"), .. args]);

    private static void AssertNoStackTrace(ProcessResult r)
    {
        Assert.DoesNotContain("   at ", r.StdOut + r.StdErr);
        Assert.DoesNotContain("Exception:", r.StdOut + r.StdErr);
    }

    [Fact]
    public async Task A_second_daemon_on_a_tcp_port_in_use_is_refused_with_the_reason_and_every_client_reaches_the_first()
    {
        using var dir = new TempDir();
        await using var first = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "a"));
        var port = TcpPort(first);
        var second = Serve(dir, "b", "--listen", $"127.0.0.1:{port}", "--volume", Volume(dir, "b"));
        Assert.True(second.ExitCode == 1, second.ToString());
        Assert.Contains($"cannot listen on 127.0.0.1:{port}: the address is in use", second.StdErr);
        AssertNoStackTrace(second);
        for (var i = 0; i < 4; i++)
        {
            var list = Run("nbdinfo", "--list", $"nbd://127.0.0.1:{port}");
            Assert.True(list.ExitCode == 0 && list.StdOut.Contains("export=\"a\""), list.ToString());
        }
    }

    [Fact]
    public async Task A_second_daemon_is_refused_a_live_nbd_unix_socket_and_leaves_it_to_the_first()
    {
        using var dir = new TempDir();
        await using var first = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "a"));
        var second = Serve(dir, "b", "--listen", "127.0.0.1:0", "--socket", first.NbdSocket, "--volume", Volume(dir, "b"));
        Assert.True(second.ExitCode == 1, second.ToString());
        Assert.Contains($"cannot listen on {first.NbdSocket}: another process answers", second.StdErr);
        AssertNoStackTrace(second);
        Assert.True(File.Exists(first.NbdSocket));
        QemuIo(first, "a", "write 0 4k");
    }

    [Fact]
    public void Duplicate_volume_names_are_refused()
    {
        using var dir = new TempDir();
        var r = DaemonProcess.RunToExit(dir, "--volume", Volume(dir, "v"), "--volume", Volume(dir, "w").Replace("name=w", "name=v"));
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains("volume name 'v' is given 2 times", r.StdErr);
    }

    [Fact]
    public void A_backup_store_in_a_directory_that_does_not_exist_is_refused_not_created()
    {
        using var dir = new TempDir();
        var r = DaemonProcess.RunToExit(dir, "--volume", Volume(dir, "v") + $",backup-store={dir.File("typo/x.store")}");
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains($"volume v: backup-store {dir.File("typo/x.store")}: directory {dir.File("typo")} does not exist", r.StdErr);
        AssertNoStackTrace(r);
        Assert.False(Directory.Exists(dir.File("typo")));
    }

    [Fact]
    public void An_nbd_socket_in_a_directory_that_does_not_exist_is_refused_saying_so()
    {
        using var dir = new TempDir();
        var r = Dmera(["serve", "--listen", "127.0.0.1:0", "--socket", dir.File("nosuch/nbd.sock"), "--admin-socket", dir.File("admin.sock"),
            "--volume", Volume(dir, "v")]);
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains($"cannot listen on {dir.File("nosuch/nbd.sock")}: directory {dir.File("nosuch")} does not exist", r.StdErr);
        AssertNoStackTrace(r);
    }

    [Fact]
    public async Task A_settings_file_with_only_engine_settings_serves_the_volumes_given_as_flags()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("engine-only.hocon"), "dmera.engine { group-commit-linger = 0s }\n");
        await using var d = await DaemonProcess.StartAsync(dir, "--config", dir.File("engine-only.hocon"), "--volume", Volume(dir, "v"));
        QemuIo(d, "v", "write -P 0x5a 0 64k", "read -P 0x5a 0 64k");
    }

    [Fact]
    public void An_origin_that_cannot_be_opened_for_writing_is_refused_in_one_line_saying_why()
    {
        // Root ignores file modes; the immutable flag (chattr +i) refuses even root. Where chattr cannot set it
        // (another filesystem, not root), a file mode stands in, which refuses a user that is not root.
        using var dir = new TempDir();
        var volume = Volume(dir, "v");
        var origin = dir.File("v.origin");
        var immutable = Run("chattr", "+i", origin).ExitCode == 0;
        if (!immutable) File.SetUnixFileMode(origin, UnixFileMode.UserRead);
        try
        {
            var r = DaemonProcess.RunToExit(dir, "--volume", volume, "--read-only", "v");
            if (!immutable && Environment.UserName == "root") return;   // nothing here can refuse root a write
            Assert.True(r.ExitCode == 1, r.ToString());
            Assert.Contains($"origin {origin}: permission denied: dmera opens it for writing", r.StdErr);
            AssertNoStackTrace(r);
        }
        finally
        {
            if (immutable) Run("chattr", "-i", origin);
        }
    }

    [Fact]
    public void Two_volumes_on_one_metadata_or_one_origin_get_one_message_naming_both()
    {
        using var dir = new TempDir();
        var a = Volume(dir, "a");
        Volume(dir, "b");
        File.CreateSymbolicLink(dir.File("a.meta.link"), dir.File("a.meta"));
        var sharedMeta = DaemonProcess.RunToExit(dir, "--volume", a, "--volume",
            $"name=b,origin={dir.File("b.origin")},metadata={dir.File("a.meta.link")},block-size=128");
        Assert.True(sharedMeta.ExitCode == 1, sharedMeta.ToString());
        Assert.Contains("volumes a and b both use", sharedMeta.StdErr);
        Assert.Contains("as metadata", sharedMeta.StdErr);
        AssertNoStackTrace(sharedMeta);

        var sharedOrigin = DaemonProcess.RunToExit(dir, "--volume", a, "--volume",
            $"name=b,origin={dir.File("a.origin")},metadata={dir.File("b.meta")},block-size=128");
        Assert.True(sharedOrigin.ExitCode == 1, sharedOrigin.ToString());
        Assert.Contains($"volumes a and b both use {dir.File("a.origin")} as origin", sharedOrigin.StdErr);
    }

    [Fact]
    public async Task Serve_that_cannot_start_prints_the_reason_in_one_line_without_a_stack_trace()
    {
        using var dir = new TempDir();
        var missing = DaemonProcess.RunToExit(dir, "--volume", $"name=m,origin={dir.File("nosuch")},metadata={dir.File("m.meta")}");
        Assert.True(missing.ExitCode == 1, missing.ToString());
        Assert.Contains("origin", missing.StdErr);
        AssertNoStackTrace(missing);

        var volume = Volume(dir, "v");
        await using (var d = await DaemonProcess.StartAsync(dir, "--volume", volume))
        {
            var inUse = DaemonProcess.RunToExit(dir, "--volume", volume);
            Assert.True(inUse.ExitCode == 1, inUse.ToString());
            AssertNoStackTrace(inUse);
        }
        var otherBlockSize = DaemonProcess.RunToExit(dir, "--volume", volume.Replace("block-size=128", "block-size=256"));
        Assert.True(otherBlockSize.ExitCode == 1, otherBlockSize.ToString());
        Assert.Contains("block size", otherBlockSize.StdErr);
        AssertNoStackTrace(otherBlockSize);

        var zero = DaemonProcess.RunToExit(dir, "--volume", volume.Replace("block-size=128", "block-size=0"));
        Assert.True(zero.ExitCode == 1, zero.ToString());
        Assert.Contains("must be a positive multiple of 8 sectors", zero.StdErr);
    }

    [Fact]
    public async Task Admin_messages_are_labelled_and_logged_and_a_restart_after_kill_says_it_recovered()
    {
        using var dir = new TempDir();
        var volume = Volume(dir, "v");
        var d = await DaemonProcess.StartAsync(dir, "--volume", volume);
        QemuIo(d, "v", "write 0 4k");
        Assert.Equal("era 2", d.Admin("message", "v", "checkpoint").StdOut.Trim());
        var held = d.Admin("message", "v", "take_metadata_snap").StdOut.Trim();
        Assert.Matches(@"^held root \d+$", held);
        Assert.Equal(0, d.Admin("message", "v", "drop_metadata_snap").ExitCode);
        Assert.Equal(1, d.Admin("message", "v", "drop_metadata_snap").ExitCode);
        Assert.Contains("volume v: checkpoint: era 2 begins", d.Log);
        Assert.Contains($"volume v: take_metadata_snap: {held}, era 3 begins", d.Log);
        Assert.Contains("volume v: drop_metadata_snap", d.Log);
        Assert.Contains("volume v: message 'drop_metadata_snap' refused: no snap to drop", d.Log);
        Assert.DoesNotContain("recovered after an unclean stop", d.Log);
        QemuIo(d, "v", "write 64k 4k");
        d.Kill();
        await d.DisposeAsync();

        await using var again = await DaemonProcess.StartAsync(dir, "--volume", volume);
        Assert.Contains("volume v: recovered after an unclean stop: the writeset of era 3", again.Log);
        Assert.Equal(0, await again.StopAsync());
        await using var clean = await DaemonProcess.StartAsync(dir, "--volume", volume);
        Assert.DoesNotContain("recovered after an unclean stop", clean.Log);
    }

    [Fact]
    public async Task Written_since_an_era_that_has_not_begun_is_an_error_not_an_empty_list()
    {
        using var dir = new TempDir();
        var volume = Volume(dir, "v");
        await using (var d = await DaemonProcess.StartAsync(dir, "--volume", volume))
            QemuIo(d, "v", "write 0 4k");
        var meta = dir.File("v.meta");
        Assert.Equal(0, Dmera("invalidate", "--written-since", "1", meta).ExitCode);
        var beyond = Dmera("invalidate", "--written-since", "9", meta);
        Assert.True(beyond.ExitCode == 1, beyond.ToString());
        Assert.Contains("--written-since 9 is beyond the current era", beyond.StdErr);

        // era_invalidate prints an empty list for era 6 of this fixture (current era 5): we refuse it.
        var fixture = dir.Fixture("three-writesets");
        Assert.Equal(0, Dmera("invalidate", "--written-since", "5", fixture).ExitCode);
        var six = Dmera("invalidate", "--written-since", "6", fixture);
        Assert.True(six.ExitCode == 1, six.ToString());
        Assert.Contains("--written-since 6 is beyond the current era 5", six.StdErr);
    }

    [Fact]
    public void An_unreachable_admin_socket_names_the_path_tried_and_says_no_daemon_listens_there()
    {
        using var dir = new TempDir();
        var r = Dmera("status", "--admin-socket", dir.File("nobody.sock"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"no dmera daemon listens on the admin socket {dir.File("nobody.sock")}", r.StdErr);
    }
}
