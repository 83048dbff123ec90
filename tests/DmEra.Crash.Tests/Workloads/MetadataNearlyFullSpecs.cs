using DmEra.Storage.Devices;
using Akka.Configuration;
using DmEra.Crash.Tests.Devices;
using DmEra.Crash.Tests.Oracles;
using DmEra.Crash.Tests.Recording;
using DmEra.Crash.Tests.Trace;
using DmEra.Engine;
using Xunit.Abstractions;

namespace DmEra.Crash.Tests.Workloads;

/// <summary>
/// A metadata device too small for the workload: once it is full, writes must fail with an error rather
/// than pass through untracked, and every crash state on the way, including those where the volume has
/// failed, must still keep the promise.
/// </summary>
public sealed class MetadataNearlyFullSpecs(ITestOutputHelper output) : CrashSpec(output)
{
    private static async Task FillUp(CrashRig rig, Action refused)
    {
        for (var i = 0; i < 60; i++)
        {
            if (!await rig.WriteAsync(4096L * (i * 37 % 256), 4096)) refused();
            if (i % 3 == 2 && !await rig.CheckpointAsync()) refused();
        }
        await rig.FlushAsync();
    }

    // Without an intent log: this spec drives StartAsync on its images directly, and keeps the direct-commit path covered.
    private static RigOptions Tiny => new(OriginBytes: 256 * 4096, MetadataBlocks: 14, Seed: 701, LogBlocks: 0);

    [Fact(Timeout = 180_000)]
    public async Task When_metadata_runs_out_writes_fail_and_no_crash_state_loses_tracking()
    {
        var refused = 0;
        var report = await RecordAndCheckAsync("metadata-nearly-full", Tiny, rig => FillUp(rig, () => refused++),
            new CheckOptions { Enumeration = new(CapPerPoint: 12, ExhaustiveUpTo: 3, RandomSamples: 3), EraCheckEvery = 50 });
        Output.WriteLine($"{refused} requests refused once metadata was full");
        AssertNoViolations(report);
        Assert.True(refused > 0, "the metadata device never filled up: make it smaller");
    }

    /// <summary>
    /// Found by this suite: after a restart on nearly full metadata, the background digest fails for lack of
    /// space; when that failure arrives while a stop waits for the step, the era manager never answers the
    /// stop and the volume hung until stop-timeout. Fixed by engine commit b632e8d ("era manager always answers
    /// StopDigest (also after a failed step)"); before it, this spec failed on three images of this recording.
    /// </summary>
    [Fact(Timeout = 170_000)]
    public async Task Stopping_right_after_a_restart_whose_digest_runs_out_of_space_does_not_hang()
    {
        var recorded = await RecordAsync("metadata-full-stop", Tiny, rig => FillUp(rig, () => { }));
        // Every durable image of the recording (one per metadata flush): somewhere the restart activates but its digest cannot finish.
        var image = (byte[]?[])recorded.InitialMetadata.Clone();
        var pending = new List<TraceEvent>();
        var hangs = new List<string>();
        foreach (var e in recorded.Events)
        {
            if (e.Kind == EventKind.MetadataWrite) { pending.Add(e); continue; }
            if (e.Kind != EventKind.MetadataFlush) continue;
            foreach (var w in pending) image[w.Offset] = w.Data;
            pending.Clear();
            var origin = new MemoryDevice(recorded.InitialOriginSize);
            EraVolume volume;
            try { volume = await EraVolume.StartAsync(Sys, "full", new ImageMetadataDevice((byte[]?[])image.Clone()), origin, 8); }
            catch (Exception) { continue; }   // too full even to activate: an explicit refusal
            var stop = volume.StopAsync();
            if (await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(30))) != stop) hangs.Add($"image after trace entry {e.Seq}");
            if (hangs.Count >= 3) break;
        }
        Assert.True(hangs.Count == 0, "stop hung (30 s; the bug this guards against hung until the 120 s stop timeout) after restarting on: " + string.Join(", ", hangs));
    }
}
