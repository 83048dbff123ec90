using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace DmEra.Crash.Tests.EndToEnd;

/// <summary>
/// kill -9 of the real daemon while a backup view is held and writes stream in: after the restart the view
/// is gone cleanly (its metadata snapshot dropped, its saved-copy file removed, no export), the data the
/// writer did not touch is intact, and every block the writer changed is tracked since the view's era.
/// </summary>
public sealed class KillNineWithViewSpecs(ITestOutputHelper output) : IDisposable
{
    private const string Volume = "V";
    private const int BlockBytes = 4096;
    private const long OriginBytes = 4L << 20;
    private readonly string _dir = Directory.CreateTempSubdirectory("dmera-kill9-view-").FullName;

    [Fact(Timeout = 240_000)]
    public async Task After_kill_9_with_a_view_held_the_view_is_gone_and_data_and_tracking_are_intact()
    {
        var origin = Path.Combine(_dir, "origin");
        var metadata = Path.Combine(_dir, "meta");
        using (var f = File.Create(origin)) f.SetLength(OriginBytes);
        using (var f = File.Create(metadata)) f.SetLength(4L << 20);
        var rng = new Random(4343);
        uint viewEra;
        byte[] before;
        using (var daemon = await DmeraDaemon.StartAsync(_dir, Volume, origin, metadata))
        {
            Qemu(daemon.NbdSocket, $"write -P 0x5a {OriginBytes / 2} {OriginBytes / 2}");   // the half the writer never touches
            viewEra = uint.Parse(Regex.Match(daemon.Message(Volume, "take_backup_snap"), @"^era (\d+) ").Groups[1].Value);
            Assert.True(File.Exists(metadata + ".backup"));
            before = File.ReadAllBytes(CopyOf(origin));
            var (writer, firstWrite) = StartWrites(daemon.NbdSocket, rng, 1000);
            await firstWrite.WaitAsync(TimeSpan.FromSeconds(60));
            await Task.Delay(rng.Next(300));
            daemon.KillNine();
            try { writer.Kill(); } catch (InvalidOperationException) { }
            writer.WaitForExit(10_000);
            writer.Dispose();
        }
        Assert.True(File.Exists(metadata + ".backup"));   // a crash leaves it; the next start removes it
        var after = File.ReadAllBytes(CopyOf(origin));
        var changed = Enumerable.Range(0, (int)(OriginBytes / BlockBytes))
            .Where(b => !before.AsSpan(b * BlockBytes, BlockBytes).SequenceEqual(after.AsSpan(b * BlockBytes, BlockBytes))).ToList();
        Assert.True(after.AsSpan((int)(OriginBytes / 2)).IndexOfAnyExcept((byte)0x5a) < 0, "data outside the writer's range changed");

        using (var daemon = await DmeraDaemon.StartAsync(_dir, Volume, origin, metadata))
        {
            Assert.False(File.Exists(metadata + ".backup"));
            var status = BoundedProcess.Run(TimeSpan.FromSeconds(60), "dotnet", DmeraDaemon.DmeraDll, "status", "--admin-socket", daemon.AdminSocket, Volume);
            Assert.EndsWith(" -", status.StdOut.Trim());   // the view's metadata snapshot was dropped
            var gone = BoundedProcess.Run(TimeSpan.FromSeconds(60), "qemu-io", "-f", "raw", "-r", "-c", "read 0 512", $"nbd+unix:///{Volume}@backup?socket={daemon.NbdSocket}");
            Assert.NotEqual(0, gone.ExitCode);
            daemon.Message(Volume, "take_metadata_snap");
            var listed = Invalidate(metadata, viewEra + 1);
            daemon.Message(Volume, "drop_metadata_snap");
            var missing = changed.Where(b => !listed.Contains(b)).ToList();
            output.WriteLine($"view era {viewEra}: {changed.Count} blocks changed after it, era_invalidate lists {listed.Count}, missing {missing.Count}");
            Assert.True(changed.Count > 0, "the kill came before any write changed the origin");
            Assert.True(missing.Count == 0, $"blocks changed since era {viewEra + 1} but not listed: {string.Join(",", missing.Take(20))}");
            Assert.StartsWith("era ", daemon.Message(Volume, "take_backup_snap"));   // and the next backup can start
        }
    }

    private string CopyOf(string path)
    {
        // The daemon holds an exclusive flock on the origin; cp takes none.
        var copy = Path.Combine(_dir, "origin.copy");
        var r = BoundedProcess.Run(TimeSpan.FromSeconds(60), "cp", path, copy);
        Assert.True(r.ExitCode == 0, $"cp: {r}");
        return copy;
    }

    private static void Qemu(string socket, string command)
    {
        var r = BoundedProcess.Run(TimeSpan.FromSeconds(60), "qemu-io", "-f", "raw", "-c", command, $"nbd+unix:///{Volume}?socket={socket}");
        Assert.True(r.ExitCode == 0 && !r.StdOut.Contains("failed"), r.ToString());
    }

    /// <summary>qemu-io with many random writes in the first half of the volume.</summary>
    private static (Process, Task) StartWrites(string socket, Random rng, int writes)
    {
        var args = new List<string> { "-f", "raw" };
        for (var i = 0; i < writes; i++)
        {
            var length = 512 * (1 + rng.Next(16));
            var offset = 512L * rng.Next((int)((OriginBytes / 2 - length) / 512));
            args.AddRange(["-c", $"write -P 0x{1 + rng.Next(254):x2} {offset} {length}"]);
        }
        args.Add($"nbd+unix:///{Volume}?socket={socket}");
        var firstWrite = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var p = new Process { StartInfo = BoundedProcess.StartInfo("qemu-io", args) };
        p.OutputDataReceived += (_, e) => { if (e.Data?.StartsWith("wrote", StringComparison.Ordinal) == true) firstWrite.TrySetResult(); };
        p.Exited += (_, _) => firstWrite.TrySetResult();
        p.EnableRaisingEvents = true;
        p.Start();
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        _ = p.StandardError.ReadToEndAsync();
        return (p, firstWrite.Task);
    }

    private static HashSet<int> Invalidate(string metadata, uint era)
    {
        var r = BoundedProcess.Run(TimeSpan.FromSeconds(60), "era_invalidate", "--metadata-snapshot", "--written-since", era.ToString(), metadata);
        Assert.True(r.ExitCode == 0, $"era_invalidate: {r}");
        var blocks = new HashSet<int>();
        foreach (Match m in Regex.Matches(r.StdOut, @"<block\s+block\s*=\s*""(\d+)""\s*/>"))
            blocks.Add(int.Parse(m.Groups[1].Value));
        foreach (Match m in Regex.Matches(r.StdOut, @"<range\s+begin\s*=\s*""(\d+)""\s+end\s*=\s*""(\d+)""\s*/>"))
            for (var b = int.Parse(m.Groups[1].Value); b < int.Parse(m.Groups[2].Value); b++) blocks.Add(b);
        return blocks;
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
