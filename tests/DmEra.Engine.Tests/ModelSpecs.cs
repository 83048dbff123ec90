using Akka.Actor;
using Akka.Configuration;
using DmEra.Metadata.Era;

namespace DmEra.Engine.Tests;

/// <summary>
/// Random operation sequences against a model of every block's era: writes, trims and zeroes of unaligned
/// multi-block ranges, checkpoints, snapshots, clean restarts and crash restarts (system two on the
/// durable image). After every step the volume's answer must equal the model's.
/// </summary>
public sealed class ModelSpecs(ITestOutputHelper output) : ModelSpec(output);

/// <summary>The same sequences with write-back on: writes are answered before their commits.</summary>
public sealed class WriteBackModelSpecs(ITestOutputHelper output)
    : ModelSpec(output, ConfigurationFactory.ParseString("dmera.engine.write-back-bytes = 67108864"));

public abstract class ModelSpec(ITestOutputHelper output, Config? config = null) : EngineSpec(output, config)
{
    private const int B = 4096;
    private const int NrBlocks = 150;

    public static IEnumerable<object[]> Seeds => Enumerable.Range(1, 12).Select(s => new object[] { s });

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Random_operation_sequences_agree_with_the_era_model(int seed)
    {
        var rnd = new Random(seed);
        var origin = new MemoryDevice(NrBlocks * (long)B - 700);   // a partial last block
        var metadata = new RecordingMetadataDevice(1024);
        var model = new uint[NrBlocks];
        uint era = 1;
        var snapHeld = false;
        var volume = await StartAsync(metadata, origin, name: "model");
        var abandoned = new List<EraVolume>();
        var trace = new List<string>();
        try
        {
            for (var step = 0; step < 60; step++)
            {
                var op = rnd.Next(100);
                if (op < 55)
                {
                    var length = rnd.Next(1, 3 * B);
                    var offset = rnd.NextInt64(0, origin.SizeBytes - length + 1);
                    trace.Add($"write {offset}+{length}");
                    await Bounded((op % 3) switch
                    {
                        0 => volume.TrimAsync(offset, length),
                        1 => volume.WriteZeroesAsync(offset, length),
                        _ => volume.WriteAsync(offset, new byte[length], fua: op % 2 == 0),
                    });
                    for (var b = offset / B; b <= (offset + length - 1) / B; b++) model[b] = era;
                }
                else if (op < 70)
                {
                    trace.Add("checkpoint");
                    Assert.Equal(++era, await Bounded(volume.CheckpointAsync()));
                }
                else if (op < 78)
                {
                    trace.Add(snapHeld ? "drop snap" : "take snap");
                    if (snapHeld) await Bounded(volume.DropMetadataSnapAsync());
                    else { await Bounded(volume.TakeMetadataSnapAsync()); era++; }
                    snapHeld = !snapHeld;
                }
                else if (op < 89)
                {
                    trace.Add("clean restart");
                    await Bounded(volume.StopAsync());
                    volume = await StartAsync(metadata, origin, name: "model");
                    era++;
                }
                else
                {
                    trace.Add("crash restart");
                    abandoned.Add(volume);
                    metadata = metadata.AfterCrash();
                    volume = await StartAsync(metadata, origin, name: "model");
                    era++;
                }
                Assert.Equal(era, volume.CurrentEra);
                var eras = await Bounded(volume.GetBlockErasAsync(0, NrBlocks));
                if (!model.SequenceEqual(eras))
                    Assert.Fail($"seed {seed} step {step} ({string.Join(", ", trace)}): model and volume differ at block {Enumerable.Range(0, NrBlocks).First(i => model[i] != eras[i])}");
                var status = await Bounded(volume.StatusAsync());
                Assert.EndsWith(snapHeld ? "" : " -", status);
                Assert.Contains($" {era} ", status);
            }
            await Bounded(volume.StopAsync());
            using var md = EraMetadata.Open(metadata.CrashImage(), 8, mayFormat: false);
            Assert.Equal(model, EraArray(md));   // stop digested everything into the era array
        }
        finally
        {
            foreach (var v in abandoned) await v.StopAsync().WaitAsync(Limit);   // they write to discarded devices
        }
    }
}
