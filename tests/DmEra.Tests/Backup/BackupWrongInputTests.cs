using DmEra.Tests.Daemon;
using DmEra.Tests.Tools;
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
}
