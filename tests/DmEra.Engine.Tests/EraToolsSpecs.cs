using System.Diagnostics;
using System.Text.RegularExpressions;
using DmEra.Metadata.PersistentData;

namespace DmEra.Engine.Tests;

/// <summary>The real thin-provisioning-tools (era_check, era_invalidate) read the metadata a workload left.</summary>
public sealed class EraToolsSpecs(ITestOutputHelper output) : EngineSpec(output), IDisposable
{
    private const int B = 64 * 1024;   // 128-sector blocks, DMTEST's default
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("dmera-engine-tools-");

    [Fact]
    public async Task After_a_workload_era_check_accepts_the_metadata_and_era_invalidate_agrees_with_the_model()
    {
        var path = Path.Combine(_dir.FullName, "meta");
        using (var f = File.Create(path)) f.SetLength(4L << 20);
        const int nrBlocks = 3000;
        var volume = await StartAsync(MetadataDevice.Open(path, writable: true, DeviceLock.Exclusive),
            new NullDevice(nrBlocks * (long)B), blockSizeSectors: 128);
        var model = new uint[nrBlocks];
        var rnd = new Random(42);
        var checkpoints = new List<uint>();
        for (var round = 0; round < 10; round++)
        {
            // Concurrent writes, some unaligned and spanning two blocks.
            var writes = Enumerable.Range(0, 40).Select(_ => (Offset: rnd.NextInt64(0, nrBlocks * (long)B - 2 * B), Length: rnd.Next(1, B + 100))).ToArray();
            foreach (var (offset, length) in writes)
                for (var b = offset / B; b <= (offset + length - 1) / B; b++) model[b] = volume.CurrentEra;
            await Bounded(Task.WhenAll(writes.Select(w => volume.WriteAsync(w.Offset, new byte[w.Length]).AsTask())));
            checkpoints.Add(await Bounded(volume.CheckpointAsync()));
        }
        await Bounded(volume.StopAsync());

        var (code, stdout, stderr) = Run("era_check", path);
        Assert.True(code == 0, $"era_check failed: {stdout}{stderr}");
        foreach (var since in new uint[] { 0, 1, 2, checkpoints[4], checkpoints[8], checkpoints[^1], 100 })
        {
            (code, stdout, stderr) = Run("era_invalidate", "--written-since", since.ToString(), path);
            Assert.True(code == 0, $"era_invalidate failed: {stderr}");
            var expected = Enumerable.Range(0, nrBlocks).Where(b => model[b] >= since).ToArray();
            Assert.Equal(expected, ParseBlocks(stdout));
        }
    }

    [Fact]
    public async Task System_two_reopens_the_same_files_after_a_stop_while_a_running_volume_holds_them_exclusively()
    {
        var meta = Path.Combine(_dir.FullName, "meta2");
        var data = Path.Combine(_dir.FullName, "origin2");
        using (var f = File.Create(meta)) f.SetLength(4L << 20);
        using (var f = File.Create(data)) f.SetLength(100 * 4096);
        var volume = await StartAsync(MetadataDevice.Open(meta, true, DeviceLock.Exclusive), FileDevice.Open(data));
        await Bounded(volume.WriteAsync(4096 * 7 + 5, Pattern(9000, 7), fua: true));
        Assert.ThrowsAny<Exception>(() => MetadataDevice.Open(meta, true, DeviceLock.Exclusive));
        Assert.ThrowsAny<Exception>(() => FileDevice.Open(data));
        await Bounded(volume.StopAsync());

        using var two = Akka.Actor.ActorSystem.Create("system-two", Sys.Settings.Config);
        var again = await EraVolume.StartAsync(two, "v", MetadataDevice.Open(meta, true, DeviceLock.Exclusive), FileDevice.Open(data), 8).WaitAsync(Limit);
        var eras = await Bounded(again.GetBlockErasAsync(0, 100));
        var back = new byte[9000];
        await Bounded(again.ReadAsync(4096 * 7 + 5, back));
        Assert.Equal(Pattern(9000, 7), back);
        Assert.Equal(new uint[] { 1, 1, 1 }, eras[7..10]);
        Assert.Equal(97, eras.Count(e => e == 0));
        Assert.Equal(2u, again.CurrentEra);
        await Bounded(again.StopAsync());
        await two.Terminate().WaitAsync(Limit);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Dmtest_wiped_blocks_have_increasing_eras_and_pausing_does_not_affect_tracking(bool pauseAfterEachWrite)
    {
        // DMTEST era_tracking_tests.rb, scaled: 16 chunks of 16 blocks; before each chunk a checkpoint, then
        // only the even chunks are written. With pausing, every write is followed by a stop and a start
        // (suspend/resume), which bumps the era but must not change what is tracked.
        const int chunkBlocks = 16, chunks = 16;
        var meta = Path.Combine(_dir.FullName, $"meta-wiped-{pauseAfterEachWrite}");
        using (var f = File.Create(meta)) f.SetLength(4L << 20);
        var origin = new MemoryDevice(chunks * chunkBlocks * (long)B);
        async Task<EraVolume> Start() => await StartAsync(MetadataDevice.Open(meta, true, DeviceLock.Exclusive), origin, 128);

        var volume = await Start();
        var checkpoints = new uint[chunks];
        for (var i = 0; i < chunks; i++)
        {
            checkpoints[i] = await Bounded(volume.CheckpointAsync());
            if (i % 2 != 0) continue;
            await Bounded(volume.WriteAsync(i * chunkBlocks * (long)B, new byte[chunkBlocks * B]));
            if (!pauseAfterEachWrite) continue;
            await Bounded(volume.StopAsync());
            volume = await Start();
        }
        await Bounded(volume.StopAsync());

        int[] Chunks(params int[] cs) => cs.SelectMany(c => Enumerable.Range(c * chunkBlocks, chunkBlocks)).ToArray();
        var (code, stdout, _) = Run("era_invalidate", "--written-since", checkpoints[7].ToString(), meta);
        Assert.Equal(0, code);
        Assert.Equal(Chunks(8, 10, 12, 14), ParseBlocks(stdout));
        Assert.Contains($@"<range begin=""{8 * chunkBlocks}"" end = ""{9 * chunkBlocks}""/>", stdout);
        (code, stdout, _) = Run("era_invalidate", "--written-since", checkpoints[13].ToString(), meta);
        Assert.Equal(Chunks(14), ParseBlocks(stdout));
    }

    /// <summary>C++ 0.9.0 prints &lt;block block="N"/&gt; and &lt;range begin="B" end = "E"/&gt; (half-open).</summary>
    private static int[] ParseBlocks(string xml)
    {
        var blocks = new List<int>();
        foreach (Match m in Regex.Matches(xml, @"<block block=""(\d+)""/>|<range begin=""(\d+)"" end\s*=\s*""(\d+)""/>"))
        {
            if (m.Groups[1].Success) blocks.Add(int.Parse(m.Groups[1].Value));
            else for (var b = int.Parse(m.Groups[2].Value); b < int.Parse(m.Groups[3].Value); b++) blocks.Add(b);
        }
        return blocks.ToArray();
    }

    private (int Code, string Stdout, string Stderr) Run(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(30_000)) { p.Kill(); throw new TimeoutException($"{tool} did not finish"); }
        Output.WriteLine($"{tool} {string.Join(' ', args)} -> {p.ExitCode}");
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    void IDisposable.Dispose()
    {
        _dir.Delete(recursive: true);
        base.Dispose();
    }
}
