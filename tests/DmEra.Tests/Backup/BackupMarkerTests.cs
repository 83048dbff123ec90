using System.Diagnostics;
using DmEra.Backup;
using DmEra.Tests.Daemon;
using DmEra.Tests.Tools;
using Xunit;

namespace DmEra.Tests.Backup;

/// <summary>
/// The in-progress marker (<see cref="ViewLease.MarkerName"/>): a leftover one never makes create drop a view
/// that backup did not take, and of two creates on one directory only one holds it.
/// </summary>
public sealed class BackupMarkerTests
{
    private const long Size = 8L << 20;

    private static ProcessResult Create(DaemonProcess d, string chain) =>
        DmeraProcess.Dmera("backup", "create", "v", chain, "--admin-socket", d.AdminSocket, "--uri", d.Uri("v"));

    private static void AssertOneLineError(ProcessResult r, string expected)
    {
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.True(r.StdErr.Trim().Split('\n').Length == 1, r.ToString());
        Assert.Contains(expected, r.StdErr);
    }

    /// <summary>The id of a process that has exited: what a killed create leaves in its marker.</summary>
    private static int DeadPid()
    {
        using var p = Process.Start("true")!;
        p.WaitForExit();
        return p.Id;
    }

    private static void WriteMarker(string chain, string json) => File.WriteAllText(Path.Combine(chain, ViewLease.MarkerName), json);

    [Fact]
    public async Task A_marker_without_the_views_era_never_drops_a_view_held_before_it_and_create_refuses_in_one_line()
    {
        using var dir = new TempDir();
        using var chain = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", Size));
        var admin = new VolumeAdmin(d.AdminSocket);
        Assert.Equal(0, Create(d, chain.Path).ExitCode);

        // Someone takes a view by hand and reads it.
        Assert.Equal(0, d.Admin("message", "v", "take_backup_snap").ExitCode);
        var view = admin.Status("v");
        Assert.True(view.CurrentEra > view.ViewEra);    // a view's era is the era current at its take
        using var reader = NbdConnection.Open(d.Uri("v@backup"), []);
        var block = new byte[BackupVolume.Block];
        reader.Read(0, block);

        // A create killed during its take, after this view was taken (recorded era later), and one of an older
        // version (no recorded era): neither can be this view's taker.
        var dead = DeadPid();
        foreach (var marker in new[]
                 {
                     $"{{\"volume\":\"v\",\"pid\":{dead},\"era\":null,\"era_before_take\":{view.CurrentEra}}}",
                     $"{{\"volume\":\"v\",\"pid\":{dead},\"era\":null}}",
                 })
        {
            WriteMarker(chain.Path, marker);
            AssertOneLineError(Create(d, chain.Path),
                $"volume v holds a backup view (era {view.ViewEra}) not taken by the backup interrupted in {chain.Path}: drop it with 'dmera message v drop_backup_snap' if it is stale");
            Assert.Equal(view.ViewEra, admin.Status("v").ViewEra);
            reader.Read(0, block);    // the reader's view still answers
            Assert.Single(BackupManifest.Load(chain.Path).Points);
            Assert.Equal(3, Directory.GetFileSystemEntries(chain.Path).Length);    // manifest, point 0, marker: nothing written
        }

        // Once the view is dropped, the marker has nothing left to protect: create removes it and goes on.
        Assert.Equal(0, d.Admin("message", "v", "drop_backup_snap").ExitCode);
        Assert.Equal(0, Create(d, chain.Path).ExitCode);
        Assert.False(File.Exists(Path.Combine(chain.Path, ViewLease.MarkerName)));
        Assert.Equal(0, DmeraProcess.Dmera("backup", "verify", chain.Path).ExitCode);
    }

    [Fact]
    public async Task A_marker_without_the_views_era_still_drops_the_view_its_own_take_made()
    {
        using var dir = new TempDir();
        using var chain = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", Size));
        var admin = new VolumeAdmin(d.AdminSocket);
        Assert.Equal(0, Create(d, chain.Path).ExitCode);
        // The killed create recorded the era, then its take went through but the answer never came back.
        var before = admin.Status("v").CurrentEra;
        WriteMarker(chain.Path, $"{{\"volume\":\"v\",\"pid\":{DeadPid()},\"era\":null,\"era_before_take\":{before}}}");
        Assert.Equal(0, d.Admin("message", "v", "take_backup_snap").ExitCode);

        var r = Create(d, chain.Path);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains($"dropped the view (era {before}) an interrupted backup left held on v", r.StdOut + r.StdErr);
        Assert.Null(admin.Status("v").ViewEra);
        Assert.False(File.Exists(Path.Combine(chain.Path, ViewLease.MarkerName)));
        Assert.Equal(0, DmeraProcess.Dmera("backup", "verify", chain.Path).ExitCode);
    }

    [Fact]
    public async Task A_create_on_a_directory_another_create_works_in_fails_in_one_line_and_leaves_the_others_marker()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", Size));
        var chain = dir.File("chain");
        var marker = Path.Combine(chain, ViewLease.MarkerName);
        ProcessResult? second = null;
        string? markerDuring = null;
        var first = new BackupCreate(new VolumeAdmin(d.AdminSocket), d.Uri("v"))
        {
            // This create holds the directory and its view: a second one (another process) starts now.
            OnViewTaken = _ =>
            {
                markerDuring = File.ReadAllText(marker);
                second = Create(d, chain);
            },
        };
        first.Run("v", chain, forceFull: false, quiet: true, _ => { }, CancellationToken.None);

        AssertOneLineError(second!, $"another dmera backup (pid {Environment.ProcessId}) is running on {chain}");
        Assert.Contains($"\"pid\": {Environment.ProcessId}", markerDuring);
        Assert.Single(BackupManifest.Load(chain).Points);
        Assert.False(File.Exists(marker));
        Assert.Equal(0, DmeraProcess.Dmera("backup", "verify", chain).ExitCode);
    }

    [Fact]
    public void Of_two_claims_on_one_directory_the_second_fails_in_one_line_and_the_first_keeps_its_marker()
    {
        using var dir = new TempDir();
        var admin = new VolumeAdmin(dir.File("unused.sock"));    // a claim does not ask the daemon
        var marker = dir.File(ViewLease.MarkerName);
        using (ViewLease.Claim(admin, "v", dir.Path, 5))
        {
            var held = File.ReadAllText(marker);
            var e = Assert.Throws<BackupException>(() => ViewLease.Claim(admin, "v", dir.Path, 5));
            Assert.Equal($"another dmera backup (pid {Environment.ProcessId}) is running on {dir.Path}", e.Message);
            Assert.Equal(held, File.ReadAllText(marker));
            Assert.Equal([marker], Directory.GetFileSystemEntries(dir.Path));    // no temporary file left
        }
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
        using (ViewLease.Claim(admin, "v", dir.Path, 5)) Assert.True(File.Exists(marker));
    }

    [Fact]
    public async Task Two_creates_started_at_once_on_a_new_directory_never_fail_with_a_raw_message_and_leave_a_chain_that_verifies()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", Size));
        for (var round = 0; round < 3; round++)
        {
            var chain = dir.File($"chain{round}");
            var both = await Task.WhenAll(Task.Run(() => Create(d, chain)), Task.Run(() => Create(d, chain)));
            var won = both.Count(r => r.ExitCode == 0);
            Assert.True(won >= 1, string.Join("\n", both.Select(r => r.ToString())));
            // Both may succeed when one ran wholly before the other; one that fails says why, in one line.
            foreach (var lost in both.Where(r => r.ExitCode != 0))
                AssertOneLineError(lost, $"another dmera backup (pid ");
            Assert.Equal(won, BackupManifest.Load(chain).Points.Count);
            Assert.False(File.Exists(Path.Combine(chain, ViewLease.MarkerName)));
            Assert.Null(new VolumeAdmin(d.AdminSocket).Status("v").ViewEra);
            Assert.Equal(0, DmeraProcess.Dmera("backup", "verify", chain).ExitCode);
        }
    }
}
