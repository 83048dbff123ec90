using System.Text.RegularExpressions;
using DmEra.Daemon;
using DmEra.Metadata.IntentLog;
using DmEra.Metadata.PersistentData;
using DmEra.Tests.Tools;
using static DmEra.Tests.Daemon.DaemonEndToEndTests;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Daemon;

/// <summary>
/// The daemon's intent log is written with O_DIRECT, each append one pwritev2(RWF_DSYNC) that is durable as it
/// returns (issue 18); where the filesystem refuses direct I/O it is written and fdatasynced as before. Each
/// path is forced here and read back; the direct one also after a kill -9 of the real daemon.
/// </summary>
public sealed class IntentLogDirectIoTests
{
    private const int ODirect = 0x4000;   // 040000: O_DIRECT on x86-64, as /proc/PID/fdinfo prints it (octal)
    private const int TrackingBytes = 64 * 1024;   // block-size=128 sectors

    [Fact(Timeout = 180_000)]
    public async Task The_daemon_appends_to_its_intent_log_with_O_DIRECT_and_replays_those_appends_after_kill_9()
    {
        using var dir = new TempDir();
        var volume = Volume(dir, "v");
        var meta = dir.File("v.meta");
        // No background commit before the kill: every mark of the writes below is in the log only.
        var hocon = dir.File("slow-commit.hocon");
        File.WriteAllText(hocon, "dmera.daemon { listen = [] }\ndmera.engine.intent-log-commit-interval = 1h\n");
        var blocks = Enumerable.Range(0, 24).Select(i => 3 + 7 * i).ToArray();

        var d = await DaemonProcess.StartAsync(dir, "--config", hocon, "--volume", volume);
        uint era;
        try
        {
            var flags = FdFlags(d.Pid, meta + ".log");
            Assert.True((flags & ODirect) != 0, $"the log's fd flags are {Convert.ToString(flags, 8)}: no O_DIRECT");
            Assert.DoesNotContain("appends are written and fdatasynced instead", d.Log);
            era = uint.Parse(d.Admin("message", "v", "checkpoint").StdOut.Trim()["era ".Length..]);
            QemuIo(d, "v", [.. blocks.Select(b => $"write -P 0x5c {(long)b * TrackingBytes + 512} 4k")]);
            d.Kill();   // SIGKILL to its pid: every write above was acknowledged, so its mark is durable
        }
        finally
        {
            await d.DisposeAsync();
        }

        await using var again = await DaemonProcess.StartAsync(dir, "--config", hocon, "--volume", volume);
        Assert.Matches($@"intent log: \d+ records, {blocks.Length} marks replayed into the current writeset", again.Log);
        Assert.Equal(0, again.Admin("message", "v", "take_metadata_snap").ExitCode);
        var real = Run("era_invalidate", "--written-since", era.ToString(), "--metadata-snapshot", meta);
        Assert.True(real.ExitCode == 0, real.ToString());
        var listed = Regex.Matches(real.StdOut, @"<block block=""(\d+)""/>").Select(m => int.Parse(m.Groups[1].Value)).ToHashSet();
        Assert.True(blocks.All(listed.Contains), $"era_invalidate lists {string.Join(",", listed.Order())}, wrote {string.Join(",", blocks)}");
        Assert.Equal(0, again.Admin("message", "v", "drop_metadata_snap").ExitCode);
        Assert.Equal(0, await again.StopAsync());
    }

    [Fact]
    public void An_intent_log_opened_with_O_DIRECT_writes_through_and_its_appends_read_back_after_reopening()
    {
        using var dir = new TempDir();
        var meta = dir.File("m.meta");
        var log = IntentLogFile.Open(meta, 8 * 4096, out var refusal)!;
        Assert.Null(refusal);
        Assert.True(log.IsWriteThrough);
        Assert.True((FdFlags(Environment.ProcessId, meta + ".log") & ODirect) != 0);
        AppendAndReadBack(log, meta);
    }

    [Fact]
    public void An_intent_log_opened_without_O_DIRECT_is_written_and_fdatasynced_and_its_appends_read_back_after_reopening()
    {
        using var dir = new TempDir();
        var meta = dir.File("m.meta");
        var log = IntentLogFile.Open(meta, 8 * 4096, out var refusal, direct: false)!;
        Assert.Null(refusal);
        Assert.False(log.IsWriteThrough);
        Assert.Equal(0, FdFlags(Environment.ProcessId, meta + ".log") & ODirect);
        AppendAndReadBack(log, meta);
    }

    /// <summary>
    /// Enough batches to go round the 7-block area more than once, the head moved behind them, then the file
    /// read with an ordinary handle as the next start would: exactly the live records, in order. Closes the log.
    /// </summary>
    private static void AppendAndReadBack(MetadataDevice log, string meta)
    {
        var live = new List<uint[]>();
        using (log)
        {
            var writer = IntentLogWriter.Reset(log, Enumerable.Range(1, 16).Select(i => (byte)i).ToArray(), 1);
            for (uint i = 0; i < 60; i++)
            {
                var batch = Enumerable.Range(0, 1 + (int)(i * 37 % 300)).Select(k => i * 1000 + (uint)k).ToArray();
                if (!writer.HasRoomFor(batch.Length))
                {
                    writer.AdvanceHead(writer.LastSeq + 1);
                    live.Clear();
                }
                writer.Append(3, batch);
                live.Add(batch);
            }
        }
        using var reread = MetadataDevice.Open(IntentLogFile.PathFor(meta), writable: false, DeviceLock.Shared);
        var scan = IntentLogScan.Read(reread);
        Assert.Equal(live.Count, scan.Records.Count);
        for (var i = 0; i < live.Count; i++) Assert.Equal(live[i], scan.Records[i].Blocks);
    }

    /// <summary>The open flags of <paramref name="pid"/>'s descriptor for <paramref name="path"/>, from /proc/PID/fdinfo.</summary>
    private static int FdFlags(int pid, string path)
    {
        var full = Path.GetFullPath(path);
        foreach (var fd in Directory.GetFiles($"/proc/{pid}/fd"))
        {
            string? target;
            try { target = new FileInfo(fd).LinkTarget; }
            catch (IOException) { continue; }
            if (target != full) continue;
            var info = File.ReadAllText($"/proc/{pid}/fdinfo/{Path.GetFileName(fd)}");
            return Convert.ToInt32(Regex.Match(info, @"flags:\s+([0-7]+)").Groups[1].Value, 8);
        }
        throw new InvalidOperationException($"process {pid} has no descriptor open on {full}");
    }
}
