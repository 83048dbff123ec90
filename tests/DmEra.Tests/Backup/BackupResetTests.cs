using System.Text.Json;
using DmEra.Backup;
using DmEra.Tests.Daemon;
using DmEra.Tests.Tools;
using Xunit;

namespace DmEra.Tests.Backup;

/// <summary>
/// When the volume's tracking history is not the chain's any more, an incremental would silently miss
/// changes: re-formatted metadata, an older dump restored, another volume under the same name each
/// make the next create a full backup that says why.
/// </summary>
public sealed class BackupResetTests
{
    private const long Size = 8L << 20;

    internal static JsonElement Create(DaemonProcess d, string chain, string volume = "v")
    {
        var r = DmeraProcess.Dmera("backup", "create", volume, chain, "--admin-socket", d.AdminSocket, "--uri", d.Uri(volume), "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        return JsonDocument.Parse(r.StdOut).RootElement.Clone();
    }

    private static async Task<DaemonProcess> Restart(DaemonProcess? old, TempDir dir, string volumeArg)
    {
        if (old is not null)
        {
            Assert.Equal(0, await old.StopAsync());
            await old.DisposeAsync();
        }
        return await DaemonProcess.StartAsync(dir, "--volume", volumeArg);
    }

    [Fact]
    public async Task Reformatted_or_restored_metadata_and_another_volume_under_the_name_each_make_the_next_create_full()
    {
        using var dir = new TempDir();
        using var chain = new TempDir();
        var volumeArg = DaemonEndToEndTests.Volume(dir, "v", Size);
        var meta = dir.File("v.meta");
        var d = await Restart(null, dir, volumeArg);
        try
        {
            // The id a client reads: status --json and the export's description (nbdinfo) agree.
            var id = new VolumeAdmin(d.AdminSocket).Status("v").TrackingId;
            Assert.Matches("^[0-9a-f]{32}$", id);
            var info = DmeraProcess.Run("nbdinfo", "--json", d.Uri("v"));
            Assert.True(info.ExitCode == 0, info.ToString());
            Assert.Contains($"tracking id {id}", info.StdOut);
            Assert.NotEqual(new string('0', 32), id);

            BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], [0, 3], 1);
            Assert.Equal("full", Create(d, chain.Path).GetProperty("kind").GetString());

            d = await Restart(d, dir, volumeArg);
            BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], [4], 2);
            var incremental = Create(d, chain.Path);
            Assert.Equal("incremental", incremental.GetProperty("kind").GetString());    // a restart keeps the history
            Assert.Equal(JsonValueKind.Null, incremental.GetProperty("full_reason").ValueKind);

            // An older dump restored over the metadata (era_restore and dmera restore write a zero uuid).
            Assert.Equal(0, await d.StopAsync());
            await d.DisposeAsync();
            var dump = DmeraProcess.Dmera("dump", meta, "-o", dir.File("old.xml"));
            Assert.True(dump.ExitCode == 0, dump.ToString());
            var restore = DmeraProcess.Dmera("restore", "-i", dir.File("old.xml"), "-o", meta);
            Assert.True(restore.ExitCode == 0, restore.ToString());
            d = await Restart(null, dir, volumeArg);
            BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], [5], 3);
            var afterRestore = Create(d, chain.Path);
            Assert.Equal("full", afterRestore.GetProperty("kind").GetString());
            Assert.Contains("tracking history", afterRestore.GetProperty("full_reason").GetString());
            Assert.Equal("incremental", Create(d, chain.Path).GetProperty("kind").GetString());

            // Re-formatted metadata: zeroed, formatted again when the volume starts.
            Assert.Equal(0, await d.StopAsync());
            await d.DisposeAsync();
            using (var f = File.Open(meta, FileMode.Truncate)) f.SetLength(8L << 20);
            d = await Restart(null, dir, volumeArg);
            var afterFormat = Create(d, chain.Path);
            Assert.Equal("full", afterFormat.GetProperty("kind").GetString());
            Assert.Contains("tracking history", afterFormat.GetProperty("full_reason").GetString());

            // Another volume served under the same name.
            var other = DaemonEndToEndTests.Volume(dir, "w", Size).Replace("name=w", "name=v");
            d = await Restart(d, dir, other);
            var afterSwap = Create(d, chain.Path);
            Assert.Equal("full", afterSwap.GetProperty("kind").GetString());
            Assert.Contains("tracking history", afterSwap.GetProperty("full_reason").GetString());

            var verify = DmeraProcess.Dmera("backup", "verify", chain.Path);
            Assert.True(verify.ExitCode == 0, verify.ToString());
            Assert.Equal(6, BackupManifest.Load(chain.Path).Points.Count);
        }
        finally
        {
            await d.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_point_missing_from_the_chain_makes_the_next_create_full_instead_of_an_incremental_on_nothing()
    {
        using var dir = new TempDir();
        using var chain = new TempDir();
        await using var d = await Restart(null, dir, DaemonEndToEndTests.Volume(dir, "v", Size));
        BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], [0, 3], 1);
        Assert.Equal("full", Create(d, chain.Path).GetProperty("kind").GetString());
        BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], [4], 2);
        var second = Create(d, chain.Path);
        Assert.Equal("incremental", second.GetProperty("kind").GetString());

        File.Delete(Path.Combine(chain.Path, second.GetProperty("file").GetString()!));
        BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], [5], 3);
        var third = Create(d, chain.Path);
        Assert.Equal("full", third.GetProperty("kind").GetString());
        Assert.Contains("damaged", third.GetProperty("full_reason").GetString());
        Assert.Contains("is missing", third.GetProperty("full_reason").GetString());
        var restored = DmeraProcess.Dmera("backup", "restore", chain.Path, "--to", dir.File("r.raw"));
        Assert.True(restored.ExitCode == 0, restored.ToString());
    }
}
