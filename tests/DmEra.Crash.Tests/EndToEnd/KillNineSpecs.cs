using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace DmEra.Crash.Tests.EndToEnd;

/// <summary>
/// Kill -9 rounds against the real daemon (RocksDB's blackbox crash test): qemu-io writes through NBD while
/// the daemon is SIGKILLed at a random instant; after a restart and take_metadata_snap, every 4 KiB block
/// whose origin bytes changed since the checkpoint must be in the real era_invalidate's output.
/// </summary>
public sealed class KillNineSpecs(ITestOutputHelper output) : IDisposable
{
    private const string Volume = "V";
    private const int BlockBytes = 4096;
    private const long OriginBytes = 4L << 20;
    private readonly string _dir = Directory.CreateTempSubdirectory("dmera-kill9-").FullName;

    [Fact(Timeout = 240_000)]
    public async Task After_kill_9_mid_write_every_changed_block_is_in_era_invalidate()
    {
        var rounds = Environment.GetEnvironmentVariable("DMERA_CRASH_LONG") is "1" or "true" ? 10 : 3;
        var origin = Path.Combine(_dir, "origin");
        var metadata = Path.Combine(_dir, "meta");
        using (var f = File.Create(origin)) f.SetLength(OriginBytes);
        using (var f = File.Create(metadata)) f.SetLength(4L << 20);
        var rng = new Random(4242);

        for (var round = 0; round < rounds; round++)
        {
            uint era;
            byte[] before;
            var midWrite = false;
            using (var daemon = await DmeraDaemon.StartAsync(_dir, Volume, origin, metadata))
            {
                era = uint.Parse(Regex.Match(daemon.Message(Volume, "checkpoint"), @"\d+").Value);
                before = ReadUnlocked(origin);
                var (writer, firstWrite) = StartWrites(daemon.NbdSocket, rng, 1000);   // more than fit before the kill
                await firstWrite.WaitAsync(TimeSpan.FromSeconds(60));   // the stream has begun...
                await Task.Delay(rng.Next(300));                          // ...and the kill lands somewhere in it
                midWrite = !writer.HasExited;
                daemon.KillNine();
                try { writer.Kill(); } catch (InvalidOperationException) { }
                writer.WaitForExit(10_000);
                writer.Dispose();
            }
            var after = ReadUnlocked(origin);
            var changed = Enumerable.Range(0, (int)(OriginBytes / BlockBytes))
                .Where(b => !before.AsSpan(b * BlockBytes, BlockBytes).SequenceEqual(after.AsSpan(b * BlockBytes, BlockBytes))).ToList();

            HashSet<int> listed;
            using (var daemon = await DmeraDaemon.StartAsync(_dir, Volume, origin, metadata))
            {
                daemon.Message(Volume, "take_metadata_snap");
                listed = Invalidate(metadata, era);
                daemon.Message(Volume, "drop_metadata_snap");
            }
            var missing = changed.Where(b => !listed.Contains(b)).ToList();
            output.WriteLine($"round {round}: killed {(midWrite ? "mid-write" : "after the writes")}; since era {era}, {changed.Count} blocks changed, era_invalidate lists {listed.Count}, missing {missing.Count}");
            Assert.True(missing.Count == 0, $"round {round}: blocks changed since era {era} but not listed: {string.Join(",", missing.Take(20))}");
        }
    }

    /// <summary>
    /// The daemon holds the origin under an exclusive flock, and .NET's own opens take flocks too, so the
    /// bytes are copied by cp (which takes none) and read from the copy.
    /// </summary>
    private byte[] ReadUnlocked(string path)
    {
        var copy = Path.Combine(_dir, "origin.copy");
        var r = BoundedProcess.Run(TimeSpan.FromSeconds(60), "cp", path, copy);
        Assert.True(r.ExitCode == 0, $"cp: {r}");
        var bytes = File.ReadAllBytes(copy);
        File.Delete(copy);
        return bytes;
    }

    /// <summary>qemu-io with many writes of random patterns at random 512-aligned offsets (some straddling blocks).</summary>
    private static (Process, Task) StartWrites(string socket, Random rng, int writes)
    {
        var args = new List<string> { "-f", "raw" };
        for (var i = 0; i < writes; i++)
        {
            var length = 512 * (1 + rng.Next(16));
            var offset = 512L * rng.Next((int)((OriginBytes - length) / 512));
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

    /// <summary>The real era_invalidate on the metadata snapshot: blocks written since <paramref name="era"/>.</summary>
    private static HashSet<int> Invalidate(string metadata, uint era)
    {
        var r = BoundedProcess.Run(TimeSpan.FromSeconds(60), "era_invalidate", "--metadata-snapshot", "--written-since", era.ToString(), metadata);
        Assert.True(r.ExitCode == 0, $"era_invalidate: {r}");
        // era_invalidate 0.9.0 writes `<range begin="1" end = "3"/>` (spaces around the second '='), hence the loose patterns.
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
