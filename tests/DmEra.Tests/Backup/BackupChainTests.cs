using System.Text.Json;
using DmEra.Backup;
using DmEra.Tests.Daemon;
using DmEra.Tests.Tools;
using Xunit;

namespace DmEra.Tests.Backup;

/// <summary>
/// `dmera backup create` against the real daemon and its backup view: a full point and three
/// incrementals, each taken while a writer overwrites the volume, every point restoring to exactly the
/// contents at its view's instant.
/// </summary>
public sealed class BackupChainTests
{
    private const long Size = 32L << 20;
    private const int Blocks = (int)(Size / BackupVolume.Block);

    [Fact]
    public async Task A_full_and_three_incrementals_taken_under_writes_each_restore_to_their_instant()
    {
        using var dir = new TempDir();
        using var chainDir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", Size));
        var volume = new byte[Size];
        var instants = new List<byte[]>();
        var random = new Random(17);
        BackupVolume.WriteBlocks(d.Uri("v"), volume, Enumerable.Range(0, Blocks / 2).Select(b => (long)b * 2), generation: 1);

        for (var point = 0; point < 4; point++)
        {
            if (point > 0) BackupVolume.WriteBlocks(d.Uri("v"), volume, Enumerable.Range(0, 12).Select(_ => (long)random.Next(Blocks)), generation: 10 * point);
            byte[]? instant = null;
            using var stopWriter = new CancellationTokenSource();
            Task? writer = null;
            var writes = new List<(long Block, int Generation)>();
            var create = new BackupCreate(new VolumeAdmin(d.AdminSocket), d.Uri("v"))
            {
                OnViewTaken = _ =>
                {
                    instant = (byte[])volume.Clone();
                    // Overwrites acknowledged after the instant, before and while the copy runs.
                    BackupVolume.WriteBlocks(d.Uri("v"), volume, [0, 2, 3, Blocks - 1], generation: 10 * point + 5);
                    writer = Task.Run(() => Write(d.Uri("v"), writes, 100 * point, stopWriter.Token));
                },
            };
            var messages = new List<string>();
            CreateSummary summary;
            try
            {
                summary = create.Run("v", chainDir.Path, forceFull: false, quiet: true, messages.Add, CancellationToken.None);
            }
            catch (BackupException e)
            {
                throw new InvalidOperationException($"point {point}: {e.Message}\n{d.Log}", e);
            }
            stopWriter.Cancel();
            await writer!;
            Assert.NotNull(instant);
            instants.Add(instant!);
            foreach (var (b, g) in writes) BackupVolume.Pattern(b, g).CopyTo(volume, b * BackupVolume.Block);
            Assert.Equal(point == 0 ? "full" : "incremental", summary.Point.Kind);
            Assert.Empty(messages);
        }

        var status = new VolumeAdmin(d.AdminSocket).Status("v");
        Assert.Null(status.ViewEra);
        var verify = DmeraProcess.Dmera("backup", "verify", chainDir.Path);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        var manifest = BackupManifest.Load(chainDir.Path);
        for (var p = 0; p < 4; p++)
        {
            var file = chainDir.File(manifest.Points[p].File);
            BackupVolume.AssertCheckClean(file);
            Assert.True(instants[p].AsSpan().SequenceEqual(BackupVolume.Convert(dir, file)), $"qemu-img convert of point {p} differs from its instant");
            var restored = dir.File($"restored-{p}.raw");
            var r = DmeraProcess.Dmera("backup", "restore", chainDir.Path, "--point", p.ToString(), "--to", restored);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.True(instants[p].AsSpan().SequenceEqual(File.ReadAllBytes(restored)), $"dmera backup restore of point {p} differs from its instant");
        }
        // An incremental copies at most what changed since the point before (12 + 4 + 64 distinct blocks), not the volume.
        Assert.True(manifest.Points[3].Bytes <= 80L * BackupVolume.Block, JsonSerializer.Serialize(manifest.Points));
        var info = DmeraProcess.Run("qemu-img", "info", "--backing-chain", chainDir.File(manifest.Points[3].File));
        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.Equal(4, info.StdOut.Split("image: ").Length - 1);
    }

    /// <summary>
    /// A writer over 64 random blocks of the volume's first half until told to stop (bounded); records each
    /// acknowledged write in order. 64 distinct blocks (4 MiB) keep the view's saved copy under its limit
    /// (a quarter of this volume): past it the view breaks, as it must, and the backup fails.
    /// </summary>
    private static void Write(string uri, List<(long, int)> writes, int generation, CancellationToken stop)
    {
        using var nbd = NbdConnection.Open(uri, []);
        var random = new Random(generation);
        for (var i = 0; i < 2000 && !stop.IsCancellationRequested; i++)
        {
            var b = (long)random.Next(64) * 4;
            var g = generation + i;
            nbd.Write(b * BackupVolume.Block, BackupVolume.Pattern(b, g));
            writes.Add((b, g));
        }
    }
}
