using DmEra.Metadata.Era;
using DmEra.Metadata.IntentLog;
using DmEra.Metadata.PersistentData;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Tools;

/// <summary>
/// After a crash and before the daemon's next start, the newest marks may be in the intent log only
/// (issue 18). The real era_invalidate reads the metadata file alone and misses them; dmera invalidate,
/// dump and check read META.log beside it (or --log FILE) and see every mark, without writing either file.
/// (Neither invalidate lists the current writeset, as era_invalidate never does: a crash-left writeset is
/// archived by the next start, so dmera invalidate shows the replayed one archived, as the start will.)
/// </summary>
public sealed class IntentLogToolTests
{
    /// <summary>Metadata of 3000 blocks, one checkpoint in, after <paramref name="write"/>, committed: its path, current era and tracking id.</summary>
    private static (string Path, uint Era, byte[] Id) Metadata(TempDir dir, Action<EraMetadata> write)
    {
        var path = dir.File("meta.bin");
        using (var f = File.Create(path)) f.SetLength(4 << 20);
        using var md = EraMetadata.Open(MetadataDevice.Open(path, true, DeviceLock.Exclusive), 128);
        md.Resize(3000);
        md.Rollover();
        write(md);
        md.Commit();
        return (path, md.CurrentEra, md.TrackingId);
    }

    [Fact]
    public void Invalidate_dump_and_check_see_the_marks_only_the_intent_log_holds()
    {
        using var dir = new TempDir();
        var (path, era, id) = Metadata(dir, md =>
        {
            md.MarkBlocks([1]);
            md.Rollover();   // block 1 is archived under its era; blocks 5 and 2999 are marked in the next one
        });
        var logPath = path + ".log";
        using (var f = File.Create(logPath)) f.SetLength(64 << 10);
        using (var log = MetadataDevice.Open(logPath, true, DeviceLock.Exclusive))
            IntentLogWriter.Reset(log, id, 1).Append(era, [5, 2999]);
        var metadataBefore = File.ReadAllBytes(path);

        var real = Run("era_invalidate", "--written-since", (era - 1).ToString(), path);
        Assert.True(real.ExitCode == 0, real.ToString());
        Assert.DoesNotContain("block=\"5\"", real.StdOut);   // the metadata file alone lags behind its log

        Assert.Contains("block=\"1\"", real.StdOut);
        var ours = Dmera("invalidate", "--written-since", (era - 1).ToString(), path);
        Assert.True(ours.ExitCode == 0, ours.ToString());
        foreach (var b in new[] { 1, 5, 2999 }) Assert.True(ours.StdOut.Contains($"<block block=\"{b}\"/>"), ours.ToString());
        var moved = dir.File("elsewhere.log");
        File.Move(logPath, moved);
        Assert.DoesNotContain("block=\"5\"", Dmera("invalidate", "--written-since", era.ToString(), path).StdOut);
        Assert.Contains("block=\"2999\"", Dmera("invalidate", "--written-since", era.ToString(), "--log", moved, path).StdOut);
        File.Move(moved, logPath);

        var dump = Dmera("dump", path);
        Assert.True(dump.ExitCode == 0, dump.ToString());
        Assert.Contains("<bit block=\"2999\" value=\"true\"/>", dump.StdOut);
        var check = Dmera("check", path);
        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.Contains("2 marks replayed", check.StdErr);
        Assert.Equal(metadataBefore, File.ReadAllBytes(path));   // read, never written
    }

    [Fact]
    public void Invalidate_and_dump_see_the_marks_a_background_commit_put_in_the_writeset_a_crash_left_open()
    {
        // A crash more than a background commit after the last first-write: every mark is in the metadata's
        // current writeset, none only in the (empty) log. The writeset is still open, so era_invalidate, which
        // reads archived writesets and the era array, misses them; dmera's tools archive it as the next start does.
        using var dir = new TempDir();
        var (path, era, id) = Metadata(dir, md => md.MarkBlocks([7, 2000]));
        var logPath = path + ".log";
        using (var f = File.Create(logPath)) f.SetLength(64 << 10);
        using (var log = MetadataDevice.Open(logPath, true, DeviceLock.Exclusive))
            IntentLogWriter.Reset(log, id, 1);
        var metadataBefore = File.ReadAllBytes(path);

        var real = Run("era_invalidate", "--written-since", era.ToString(), path);
        Assert.True(real.ExitCode == 0, real.ToString());
        Assert.DoesNotContain("block=\"7\"", real.StdOut);

        var ours = Dmera("invalidate", "--written-since", era.ToString(), path);
        Assert.True(ours.ExitCode == 0, ours.ToString());
        foreach (var b in new[] { 7, 2000 }) Assert.True(ours.StdOut.Contains($"<block block=\"{b}\"/>"), ours.ToString());
        var dump = Dmera("dump", path);
        Assert.True(dump.ExitCode == 0, dump.ToString());
        Assert.Contains($"<writeset era=\"{era}\"", dump.StdOut);
        Assert.Contains("<bit block=\"2000\" value=\"true\"/>", dump.StdOut);
        Assert.Equal(metadataBefore, File.ReadAllBytes(path));   // read, never written
    }
}
