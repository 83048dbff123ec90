using System.Diagnostics;
using DmEra.Backup;
using DmEra.Tests.Daemon;
using DmEra.Tests.Tools;
using Mono.Unix.Native;
using Xunit;

namespace DmEra.Tests.Backup;

/// <summary>
/// A create interrupted while its view is held (client SIGTERM or SIGKILL, daemon SIGKILL, target disk
/// full): no view stays held once the next create has run, the chain stays valid, and the next create works.
/// </summary>
public sealed class BackupInterruptionTests
{
    private const long Size = 256L << 20;

    private static Process StartCreate(DaemonProcess d, string chain)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "dmera.dll"), "backup", "create", "v", chain, "--admin-socket", d.AdminSocket, "--uri", d.Uri("v") })
            psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>Waits (bounded) until the volume's view is held; false if the client ended first.</summary>
    private static async Task<bool> WaitForView(DaemonProcess d, Process client)
    {
        var admin = new VolumeAdmin(d.AdminSocket);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60) && !client.HasExited)
        {
            if (admin.Status("v").ViewEra is not null) return true;
            await Task.Delay(5);
        }
        return false;
    }

    private static async Task<(int Code, string Err)> Exit(Process p)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var err = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await err);
    }

    private static void AssertChainSound(DaemonProcess d, TempDir dir, TempDir chain)
    {
        Assert.Null(new VolumeAdmin(d.AdminSocket).Status("v").ViewEra);
        Assert.Empty(Directory.GetFiles(chain.Path, "*.partial"));
        var verify = DmeraProcess.Dmera("backup", "verify", chain.Path);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        // The last point is the volume as it is now (nothing writes any more).
        var restored = dir.File("restored.raw");
        Assert.Equal(0, DmeraProcess.Dmera("backup", "restore", chain.Path, "--to", restored).ExitCode);
        var live = dir.File("live.raw");
        Assert.Equal(0, DmeraProcess.Run("nbdcopy", d.Uri("v"), live).ExitCode);
        Assert.Equal(0, DmeraProcess.Run("cmp", restored, live).ExitCode);
        File.Delete(restored);
        File.Delete(live);
    }

    private static async Task<DaemonProcess> VolumeWithData(TempDir dir)
    {
        var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", Size));
        BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], Enumerable.Range(0, (int)(Size / BackupVolume.Block)).Where(b => b % 4 != 3).Select(b => (long)b), 1);
        return d;
    }

    [Theory]
    [InlineData(Signum.SIGTERM)]
    [InlineData(Signum.SIGINT)]
    [InlineData(Signum.SIGKILL)]
    public async Task A_client_killed_while_it_holds_the_view_leaves_the_chain_valid_and_the_next_create_works(Signum signal)
    {
        using var dir = new TempDir();
        using var chain = new TempDir();
        await using var d = await VolumeWithData(dir);
        BackupResetTests.Create(d, chain.Path);
        BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], Enumerable.Range(0, 2000).Select(b => (long)b), 2);

        using var client = StartCreate(d, chain.Path);
        var caught = await WaitForView(d, client);
        Syscall.kill(client.Id, signal);
        var (code, err) = await Exit(client);
        if (caught && code != 0 && signal != Signum.SIGKILL)
        {
            Assert.Equal("interrupted: the chain is as it was before this command", err.Trim());
            Assert.Null(new VolumeAdmin(d.AdminSocket).Status("v").ViewEra);    // dropped on the way out
        }
        var points = BackupManifest.Load(chain.Path).Points.Count;
        var next = BackupResetTests.Create(d, chain.Path);
        Assert.Equal("incremental", next.GetProperty("kind").GetString());
        Assert.Equal(points, next.GetProperty("point").GetInt32());
        AssertChainSound(d, dir, chain);
    }

    [Fact]
    public async Task A_daemon_killed_during_a_create_fails_it_in_one_line_and_after_a_restart_the_next_create_works()
    {
        using var dir = new TempDir();
        using var chain = new TempDir();
        var d = await VolumeWithData(dir);
        try
        {
            BackupResetTests.Create(d, chain.Path);
            BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], Enumerable.Range(0, 2000).Select(b => (long)b), 2);
            using var client = StartCreate(d, chain.Path);
            await WaitForView(d, client);
            d.Kill();
            var (code, err) = await Exit(client);
            if (code != 0) Assert.Single(err.Trim().Split('\n'));
            await d.DisposeAsync();
            d = await DaemonProcess.StartAsync(dir, "--volume", $"name=v,origin={dir.File("v.origin")},metadata={dir.File("v.meta")},block-size=128");
            BackupResetTests.Create(d, chain.Path);
            AssertChainSound(d, dir, chain);
        }
        finally
        {
            await d.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_daemon_stopped_by_SIGTERM_during_a_create_fails_it_saying_so_leaves_the_chain_as_it_was_and_the_next_create_works()
    {
        using var dir = new TempDir();
        using var chain = new TempDir();
        var d = await VolumeWithData(dir);
        try
        {
            BackupResetTests.Create(d, chain.Path);
            var manifest = File.ReadAllText(BackupManifest.PathIn(chain.Path));
            BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], Enumerable.Range(0, 2000).Select(b => (long)b), 2);
            var daemon = d;
            var create = new BackupCreate(new VolumeAdmin(d.AdminSocket), d.Uri("v"))
            {
                // The view is held, the copy about to start: systemd (or Ctrl-C) stops the daemon now.
                OnViewTaken = _ => Assert.Equal(0, daemon.StopAsync().GetAwaiter().GetResult()),
            };
            var e = Assert.Throws<BackupException>(() => create.Run("v", chain.Path, forceFull: false, quiet: true, _ => { }, CancellationToken.None));
            Assert.StartsWith("the daemon stopped during the backup (", e.Message);
            Assert.EndsWith("the chain is as it was: run create again once it serves", e.Message);
            Assert.DoesNotContain('\n', e.Message);
            Assert.Equal(manifest, File.ReadAllText(BackupManifest.PathIn(chain.Path)));
            Assert.Empty(Directory.GetFiles(chain.Path, "*.partial"));
            // The failed client here is this test process, which lives on: its marker (the view it could not drop)
            // would hold the next create off as another running backup. A real client has exited.
            Assert.Contains($"{Environment.ProcessId}", File.ReadAllText(Path.Combine(chain.Path, ViewLease.MarkerName)));
            File.Delete(Path.Combine(chain.Path, ViewLease.MarkerName));

            await d.DisposeAsync();
            d = await DaemonProcess.StartAsync(dir, "--volume", $"name=v,origin={dir.File("v.origin")},metadata={dir.File("v.meta")},block-size=128");
            Assert.Equal("incremental", BackupResetTests.Create(d, chain.Path).GetProperty("kind").GetString());
            AssertChainSound(d, dir, chain);
        }
        finally
        {
            await d.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_view_that_breaks_during_a_create_fails_it_in_one_line_drops_the_view_and_leaves_the_chain_as_it_was()
    {
        using var dir = new TempDir();
        using var chain = new TempDir();
        // Room for two saved blocks: the third block written after the instant breaks the view, and every read of it fails.
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", Size) + ",backup-limit=131072");
        BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], Enumerable.Range(0, 1024).Select(b => (long)b), 1);
        BackupResetTests.Create(d, chain.Path);
        var manifest = File.ReadAllText(BackupManifest.PathIn(chain.Path));
        BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], Enumerable.Range(0, 1024).Select(b => (long)b * 2), 2);

        var create = new BackupCreate(new VolumeAdmin(d.AdminSocket), d.Uri("v"))
        {
            OnViewTaken = _ => BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], [1, 3, 5], 3),
        };
        var e = Assert.Throws<BackupException>(() => create.Run("v", chain.Path, forceFull: false, quiet: true, _ => { }, CancellationToken.None));
        Assert.StartsWith("the backup view broke: saved-copy store full", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(manifest, File.ReadAllText(BackupManifest.PathIn(chain.Path)));
        Assert.Null(new VolumeAdmin(d.AdminSocket).Status("v").ViewEra);
        Assert.False(File.Exists(Path.Combine(chain.Path, ViewLease.MarkerName)));

        Assert.Equal("incremental", BackupResetTests.Create(d, chain.Path).GetProperty("kind").GetString());
        AssertChainSound(d, dir, chain);
    }

    [Fact]
    public async Task A_full_target_disk_fails_the_create_drops_the_view_and_leaves_the_chain_as_it_was()
    {
        using var dir = new TempDir();
        using var chain = new TempDir();
        // A 24 MiB filesystem of its own for the chain (tmpfs; root only).
        var mount = DmeraProcess.Run("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", chain.Path);
        Assert.True(mount.ExitCode == 0, $"this test needs to mount a tmpfs (root): {mount}");
        try
        {
            await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", 64L << 20));
            BackupVolume.WriteBlocks(d.Uri("v"), new byte[64L << 20], Enumerable.Range(0, 16).Select(b => (long)b), 1);
            BackupResetTests.Create(d, chain.Path);
            var manifest = File.ReadAllText(BackupManifest.PathIn(chain.Path));
            BackupVolume.WriteBlocks(d.Uri("v"), new byte[64L << 20], Enumerable.Range(100, 600).Select(b => (long)b), 2);

            var full = DmeraProcess.Dmera("backup", "create", "v", chain.Path, "--admin-socket", d.AdminSocket, "--uri", d.Uri("v"));
            Assert.Equal(1, full.ExitCode);
            Assert.Single(full.StdErr.Trim().Split('\n'));
            Assert.Contains("No space left on device", full.StdErr);
            Assert.Equal(manifest, File.ReadAllText(BackupManifest.PathIn(chain.Path)));
            Assert.Null(new VolumeAdmin(d.AdminSocket).Status("v").ViewEra);
            Assert.Empty(Directory.GetFiles(chain.Path, "*.partial"));

            // Zero what filled the disk: the next incremental records zero clusters and fits.
            using (var nbd = NbdConnection.Open(d.Uri("v"), [])) nbd.Zero(100L * BackupVolume.Block, 600L * BackupVolume.Block);
            Assert.Equal("incremental", BackupResetTests.Create(d, chain.Path).GetProperty("kind").GetString());
            AssertChainSound(d, dir, chain);
        }
        finally
        {
            DmeraProcess.Run("umount", chain.Path);
        }
    }
}
