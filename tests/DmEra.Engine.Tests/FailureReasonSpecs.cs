using DmEra.Engine.Tracking;

namespace DmEra.Engine.Tests;

/// <summary>A volume in Fail says why (issue 15 item 9): the metadata error, for status --json.</summary>
public sealed class FailureReasonSpecs(ITestOutputHelper output) : EngineSpec(output)
{
    private const int B = 4096;

    [Fact]
    public async Task A_failed_volume_says_which_metadata_error_failed_it()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var volume = await StartAsync(metadata, new RecordingOriginDevice(64 * B, metadata));
        Assert.Null(volume.FailureReason);
        metadata.FailWrite = _ => true;
        var e = await Assert.ThrowsAsync<VolumeFailedException>(() => Bounded(volume.WriteAsync(7 * B, new byte[B])));
        Assert.Equal(VolumeState.Failed, volume.State);
        Assert.NotNull(e.InnerException);
        Assert.Equal(e.InnerException!.Message, volume.FailureReason);
        await Bounded(volume.StopAsync());
    }
}
