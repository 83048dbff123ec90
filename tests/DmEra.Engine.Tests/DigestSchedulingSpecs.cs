using Akka.Configuration;
using DmEra.Engine.Tracking;

namespace DmEra.Engine.Tests;

/// <summary>With tiny digest steps a backlog takes thousands of steps: first-writes must not wait for it.</summary>
public sealed class DigestSchedulingSpecs(ITestOutputHelper output)
    : EngineSpec(output, ConfigurationFactory.ParseString("dmera.engine.digest-bits-per-step = 64"))
{
    private const int B = 4096;
    private const int NrBlocks = 200_000;

    private async Task<(EraVolume Volume, RecordingMetadataDevice Metadata)> StartWithDigestBacklogAsync()
    {
        var metadata = new RecordingMetadataDevice(4096);
        var volume = await StartAsync(metadata, new NullDevice(NrBlocks * (long)B));
        await Bounded(Task.WhenAll(Enumerable.Range(0, 200).Select(i => volume.WriteAsync(i * 997L * B, new byte[1]).AsTask())));
        await Bounded(volume.CheckpointAsync());   // 200000 bits / 64 per step = 3125 digest steps
        return (volume, metadata);
    }

    [Fact]
    public async Task A_first_write_completes_while_a_long_digest_is_still_running()
    {
        var (volume, _) = await StartWithDigestBacklogAsync();
        Assert.True(await Bounded(volume.HasDigestWorkAsync()));
        await Bounded(volume.WriteAsync(5 * B, new byte[1]));
        await Bounded(volume.WriteAsync(7 * B, new byte[1]));

        Assert.True(await Bounded(volume.HasDigestWorkAsync()), "the digest finished before two first-writes: they were queued behind it");
        await Eventually(async () => !await volume.HasDigestWorkAsync());
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task A_metadata_error_at_the_end_of_a_digest_fails_the_volume_and_stop_still_completes()
    {
        var (volume, metadata) = await StartWithDigestBacklogAsync();
        metadata.FailWrite = _ => true;   // the commit that ends the digest will fail

        await Eventually(() => Task.FromResult(volume.State == VolumeState.Failed));
        Assert.Equal("Fail", await Bounded(volume.StatusAsync()));
        await Bounded(volume.StopAsync());
        Assert.Equal(VolumeState.Stopped, volume.State);
    }

    [Fact]
    public async Task Stop_during_a_long_digest_drains_it_before_the_final_commit()
    {
        var (volume, metadata) = await StartWithDigestBacklogAsync();
        await Bounded(volume.StopAsync());
        using var md = DmEra.Metadata.Era.EraMetadata.Open(metadata.CrashImage(), 8, mayFormat: false);
        Assert.False(md.HasDigestWork);
        var eras = EraArray(md);
        Assert.Equal(200, eras.Count(e => e == 1));
    }
}
