using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using DmEra.Backup;
using DmEra.Tests.Daemon;
using DmEra.Tests.Tools;
using Mono.Unix.Native;
using Xunit;

namespace DmEra.Tests.Backup;

/// <summary>Wrong input to `dmera backup`: exit 1, one line saying what is wrong, nothing written, no view left held.</summary>
public sealed class BackupWrongInputTests
{
    private static void AssertOneLineError(ProcessResult r, string expected)
    {
        Assert.True(r.ExitCode == 1, r.ToString());
        var lines = r.StdErr.Trim().Split('\n');
        Assert.True(lines.Length == 1, r.ToString());
        Assert.Contains(expected, lines[0]);
    }

    [Fact]
    public async Task Create_refuses_a_directory_that_is_not_a_chain_another_volumes_chain_an_unknown_volume_and_a_bad_uri()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", 8L << 20),
            "--volume", DaemonEndToEndTests.Volume(dir, "w", 8L << 20));
        ProcessResult Create(string volume, string chain, string? uri = null) =>
            DmeraProcess.Dmera("backup", "create", volume, chain, "--admin-socket", d.AdminSocket, "--uri", uri ?? d.Uri(volume));

        using var notChain = new TempDir();
        File.WriteAllText(notChain.File("notes.txt"), "mine");
        AssertOneLineError(Create("v", notChain.Path), "is not empty and holds no backup chain");
        Assert.Equal(["notes.txt"], Directory.GetFileSystemEntries(notChain.Path).Select(Path.GetFileName));

        using var chain = new TempDir();
        Assert.Equal(0, Create("v", chain.Path).ExitCode);
        AssertOneLineError(Create("w", chain.Path), "holds the backups of volume v, not w");
        AssertOneLineError(Create("nosuch", dir.File("c2")), "nosuch");
        AssertOneLineError(Create("v@backup", dir.File("c3")), "is not a volume name");
        AssertOneLineError(Create("v", chain.Path, "http://example.invalid/"), "not an NBD URI");
        AssertOneLineError(
            DmeraProcess.Dmera("backup", "create", "v", chain.Path, "--admin-socket", dir.File("no.sock"), "--uri", d.Uri("v")),
            "no dmera daemon listens on the admin socket");
        // A view someone else holds: refused, and theirs is left alone.
        Assert.Equal(0, d.Admin("message", "v", "take_backup_snap").ExitCode);
        var held = Create("v", chain.Path);
        Assert.Equal(1, held.ExitCode);
        Assert.Single(held.StdErr.Trim().Split('\n'));
        Assert.Contains("\"view\":{", d.Admin("status", "v", "--json").StdOut);
        Assert.Equal(0, d.Admin("message", "v", "drop_backup_snap").ExitCode);
        Assert.Equal(0, Create("v", chain.Path).ExitCode);
        Assert.Equal(0, DmeraProcess.Dmera("backup", "verify", chain.Path).ExitCode);
    }

    [Fact]
    public void List_verify_and_restore_refuse_what_is_not_a_chain_in_one_line()
    {
        using var dir = new TempDir();
        AssertOneLineError(DmeraProcess.Dmera("backup", "list", dir.Path), "holds no backup chain");
        AssertOneLineError(DmeraProcess.Dmera("backup", "verify", dir.File("missing")), "no such directory");
        File.WriteAllText(dir.File("manifest.json"), "[1,2]");
        AssertOneLineError(DmeraProcess.Dmera("backup", "restore", dir.Path, "--to", dir.File("x.raw")), "not a backup manifest");
        Assert.False(File.Exists(dir.File("x.raw")));
    }

    [Fact]
    public async Task Create_refuses_a_file_for_its_directory_and_a_failed_create_leaves_no_directory_behind_and_names_the_uri_it_tried()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", 8L << 20));
        ProcessResult Create(string volume, string chain, string uri) =>
            DmeraProcess.Dmera("backup", "create", volume, chain, "--admin-socket", d.AdminSocket, "--uri", uri);

        var file = dir.File("afile");
        File.WriteAllText(file, "mine");
        AssertOneLineError(Create("v", file, d.Uri("v")), "is a file, not a directory");
        Assert.Equal("mine", File.ReadAllText(file));

        AssertOneLineError(Create("nosuch", dir.File("new/chain"), d.Uri("nosuch")), "nosuch");
        Assert.False(Directory.Exists(dir.File("new")));

        // A port nothing listens on: the view is taken, cannot be read, and is dropped. The port stays bound (not
        // listening, so connects are refused) for the whole test: released, another test's bind(0) could take it.
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ExclusiveAddressUse = true };
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)holder.LocalEndPoint!).Port;
        var unreachable = Create("v", dir.File("c4"), $"nbd://127.0.0.1:{port}/");
        AssertOneLineError(unreachable, $"(--uri nbd://127.0.0.1:{port}/)");
        Assert.Contains("give --uri as 'dmera serve' listens", unreachable.StdErr);
        Assert.False(Directory.Exists(dir.File("c4")));
        Assert.Null(new VolumeAdmin(d.AdminSocket).Status("v").ViewEra);
    }

    [Fact]
    public async Task Create_refuses_a_uri_that_serves_another_daemons_view_writes_no_point_and_drops_the_view_it_took()
    {
        using var dirA = new TempDir();
        using var dirB = new TempDir();
        // Two daemons, each with a volume v: B holds a view of its own, which the NBD server at B's URI serves as v@backup.
        await using var a = await DaemonProcess.StartAsync(dirA, "--volume", DaemonEndToEndTests.Volume(dirA, "v", 8L << 20));
        await using var b = await DaemonProcess.StartAsync(dirB, "--volume", DaemonEndToEndTests.Volume(dirB, "v", 8L << 20));
        Assert.Equal(0, b.Admin("message", "v", "take_backup_snap").ExitCode);
        var adminA = new VolumeAdmin(a.AdminSocket);
        var idA = adminA.Status("v").TrackingId;
        var idB = new VolumeAdmin(b.AdminSocket).Status("v").TrackingId;
        Assert.NotEqual(idA, idB);
        ProcessResult Create(string chain, string uri) => DmeraProcess.Dmera("backup", "create", "v", chain, "--admin-socket", a.AdminSocket, "--uri", uri);

        var fresh = dirA.File("fresh");
        var wrong = Create(fresh, b.Uri("v"));
        AssertOneLineError(wrong, "is not the view of v just taken: it describes \"backup view of dm-era volume v at era ");
        Assert.Contains($", tracking id {idB}\", not era ", wrong.StdErr);
        Assert.Contains($" of tracking id {idA}; give --uri as 'dmera serve' listens", wrong.StdErr);
        Assert.False(Directory.Exists(fresh));
        Assert.Null(adminA.Status("v").ViewEra);
        Assert.NotNull(new VolumeAdmin(b.AdminSocket).Status("v").ViewEra);    // B's view is not A's to drop

        // A chain that exists stays as it was: no point, no file, no marker.
        using var chain = new TempDir();
        Assert.Equal(0, Create(chain.Path, a.Uri("v")).ExitCode);
        var before = Directory.GetFileSystemEntries(chain.Path).Order().ToArray();
        var manifest = File.ReadAllText(BackupManifest.PathIn(chain.Path));
        AssertOneLineError(Create(chain.Path, b.Uri("v")), "is not the view of v just taken");
        Assert.Equal(before, Directory.GetFileSystemEntries(chain.Path).Order().ToArray());
        Assert.Equal(manifest, File.ReadAllText(BackupManifest.PathIn(chain.Path)));
        Assert.Null(adminA.Status("v").ViewEra);
        Assert.Equal(0, Create(chain.Path, a.Uri("v")).ExitCode);
        Assert.Equal(0, DmeraProcess.Dmera("backup", "verify", chain.Path).ExitCode);
    }

    [Fact]
    public async Task Create_refuses_a_uri_where_nbdkit_serves_any_export_name()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", 8L << 20));
        var socket = dir.File("nbdkit.sock");
        var psi = new ProcessStartInfo("nbdkit") { UseShellExecute = false, RedirectStandardError = true };
        foreach (var arg in new[] { "--foreground", "--exit-with-parent", "--unix", socket, "memory", "1G" }) psi.ArgumentList.Add(arg);
        using var nbdkit = Process.Start(psi)!;
        try
        {
            var clock = Stopwatch.StartNew();
            while (!File.Exists(socket) && !nbdkit.HasExited && clock.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(10);
            Assert.True(File.Exists(socket), "nbdkit did not create its socket");

            var chain = dir.File("chain");
            var r = DmeraProcess.Dmera("backup", "create", "v", chain, "--admin-socket", d.AdminSocket, "--uri", $"nbd+unix:///?socket={socket}");
            AssertOneLineError(r, $"(--uri nbd+unix:///?socket={socket}) is not the view of v just taken: it gives no description, not era ");
            Assert.Contains("give --uri as 'dmera serve' listens", r.StdErr);
            Assert.False(Directory.Exists(chain));
            Assert.Null(new VolumeAdmin(d.AdminSocket).Status("v").ViewEra);
        }
        finally
        {
            Syscall.kill(nbdkit.Id, Signum.SIGTERM);
            nbdkit.WaitForExit();
        }
    }

    [Fact]
    public async Task Restore_says_what_is_wrong_with_point_and_to_in_one_line_and_never_truncates_a_file_of_another_size()
    {
        using var dir = new TempDir();
        using var chain = new TempDir();
        const long size = 8L << 20;
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", size));
        var volume = new byte[size];
        BackupVolume.WriteBlocks(d.Uri("v"), volume, [0, 5, 127], 1);
        BackupResetTests.Create(d, chain.Path);
        ProcessResult Restore(params string[] args) => DmeraProcess.Dmera(["backup", "restore", chain.Path, .. args]);

        AssertOneLineError(Restore("--point", "abc", "--to", dir.File("r.raw")), "--point takes a point number (0, 1, ... as 'dmera backup list' shows), not 'abc'");
        Assert.False(File.Exists(dir.File("r.raw")));
        AssertOneLineError(Restore("--to", dir.File("nodir/x.raw")), $"cannot restore to {dir.File("nodir/x.raw")}: no directory {dir.File("nodir")}");

        var bigger = dir.File("bigger.raw");
        var theirs = BackupVolume.Pattern(3, 3).Concat(new byte[size + (1 << 20) - BackupVolume.Block]).ToArray();
        File.WriteAllBytes(bigger, theirs);
        AssertOneLineError(Restore("--to", bigger), $"exists and is {size + (1 << 20)} bytes, the volume {size}");
        Assert.Equal(theirs, File.ReadAllBytes(bigger));

        // A file of the volume's size is replaced whole (its old data does not show through the point's holes); an empty one is filled.
        var same = dir.File("same.raw");
        File.WriteAllBytes(same, Enumerable.Repeat((byte)0xAB, (int)size).ToArray());
        Assert.Equal(0, Restore("--to", same).ExitCode);
        Assert.Equal(volume, File.ReadAllBytes(same));
        var empty = dir.File("empty.raw");
        File.WriteAllBytes(empty, []);
        Assert.Equal(0, Restore("--to", empty).ExitCode);
        Assert.Equal(volume, File.ReadAllBytes(empty));
    }

    [Theory]
    [InlineData("{\"format\": ", "not a backup manifest (malformed JSON at $.format, line 1)")]
    [InlineData("{\"format\":\"dmera-backup-chain\",\"version\":1,\"volume\":\"v\",\"points\":[{\"point\":\"x\"}]}", "not a backup manifest (malformed JSON at $.points[0].point, line 1)")]
    [InlineData("{\"format\":\"dmera-backup-chain\",\"version\":1,\"volume\":\"v\",\"points\":[null]}", "point 0 is null")]
    [InlineData("{\"format\":\"dmera-backup-chain\",\"version\":1,\"volume\":\"v\",\"points\":null}", "the manifest has no points list")]
    [InlineData("{\"format\":\"dmera-backup-chain\",\"version\":1,\"points\":[]}", "the manifest names no volume")]
    [InlineData("{\"format\":\"dmera-backup-chain\",\"version\":1,\"volume\":\"v\",\"points\":[{\"point\":0,\"file\":\"a.qcow2\",\"kind\":\"full\",\"size_bytes\":4096}]}", "point 0 has no checksum")]
    public void A_malformed_manifest_is_refused_by_every_command_in_one_line_that_says_where(string json, string expected)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("manifest.json"), json);
        foreach (var args in new[]
        {
            new[] { "backup", "list", dir.Path },
            ["backup", "verify", dir.Path],
            ["backup", "restore", dir.Path, "--to", dir.File("x.raw")],
            ["backup", "create", "v", dir.Path, "--admin-socket", dir.File("no.sock")],
        })
        {
            var r = DmeraProcess.Dmera(args);
            AssertOneLineError(r, $"{dir.File("manifest.json")}: {expected}");
            Assert.DoesNotContain("Exception", r.StdErr);
        }
        Assert.Equal(json, File.ReadAllText(dir.File("manifest.json")));
        Assert.False(File.Exists(dir.File("x.raw")));
    }
}
