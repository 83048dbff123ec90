using DmEra.Backup;
using DmEra.Tests.Daemon;
using DmEra.Tests.Tools;
using Xunit;

namespace DmEra.Tests.Backup;

/// <summary>
/// The copy's read path against a real daemon's view: reads in flight on several connections at once, and a
/// view that breaks under them (its saved copy full: every later read answers EIO).
/// </summary>
public sealed class PointCopierTests
{
    private const long Size = 64L << 20;
    private const int Blocks = (int)(Size / BackupVolume.Block);
    /// <summary>Room for two saved blocks: the third block written after the instant breaks the view.</summary>
    private const string TwoBlockLimit = ",backup-limit=131072";

    /// <summary>Calls <paramref name="first"/> on the consumer's first report, synchronously (so the copy is mid-way).</summary>
    private sealed class OnFirstReport(Action first) : IProgress<long>
    {
        public int Reports;

        public void Report(long value)
        {
            if (Interlocked.Increment(ref Reports) == 1) first();
        }
    }

    [Fact]
    public async Task A_view_that_breaks_mid_copy_fails_the_copy_with_the_read_error_and_leaves_no_read_behind()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "v", Size) + TwoBlockLimit);
        BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], Enumerable.Range(0, Blocks).Select(b => (long)b), 1);
        var admin = new VolumeAdmin(d.AdminSocket);
        var view = admin.TakeView("v", null);
        var uri = d.Uri(view.Export);
        // Once the first run is through, overwrite three blocks: the view breaks with most of the copy's reads still to come.
        var breaker = new OnFirstReport(() => BackupVolume.WriteBlocks(d.Uri("v"), new byte[Size], [Blocks - 3, Blocks - 2, Blocks - 1], 2));

        using (var primary = PointCopier.Connect(uri, null))
        using (var writer = new Qcow2PointWriter(dir.File("p.qcow2"), primary.Size, 16, null))
        {
            var copy = Task.Run(() => new PointCopier(uri).Copy(primary, null, writer, breaker, CancellationToken.None));
            var e = await Assert.ThrowsAsync<BackupException>(() => copy.WaitAsync(TimeSpan.FromSeconds(120)));
            Assert.Contains("Input/output error", e.Message);
            // Every read has ended: the connection the copy shared still answers at once.
            var block = new byte[BackupVolume.Block];
            Assert.Throws<BackupException>(() => primary.Read(0, block));    // the broken view's EIO, not a hang or a dead handle
        }
        Assert.StartsWith("saved-copy store full", admin.Status("v").ViewBroken);
        admin.DropView("v");
        Assert.Null(admin.Status("v").ViewEra);
    }
}
