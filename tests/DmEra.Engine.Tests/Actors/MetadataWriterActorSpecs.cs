using Akka.Actor;
using DmEra.Engine.Actors;
using DmEra.Engine.Tracking;
using DmEra.Metadata.Era;

namespace DmEra.Engine.Tests.Actors;

/// <summary>The metadata writer alone on a recording device, a probe standing for every requester.</summary>
public sealed class MetadataWriterActorSpecs(ITestOutputHelper output) : EngineSpec(output)
{
    private const int B = 4096;

    private IActorRef Writer(RecordingMetadataDevice device) =>
        Sys.ActorOf(MetadataWriter.Props(EngineSettings.Create(Sys), device, new BlockGeometry(8, 64 * B), new VolumeCounters()));

    [Fact]
    public void A_request_before_activation_is_answered_with_the_typed_failure()
    {
        var writer = Writer(new RecordingMetadataDevice(1024));
        var requester = CreateTestProbe();

        writer.Tell(new MetadataWriter.GetStatus(requester.Ref, 11));

        var failed = requester.ExpectMsg<Failed>(Limit);
        Assert.Equal(11, failed.RequestId);
        Assert.Contains("not been activated", failed.Cause.Message);
    }

    [Fact]
    public void Activation_answers_the_era_and_the_root_held_then_each_request_gets_its_own_id_back()
    {
        var writer = Writer(new RecordingMetadataDevice(1024));
        var requester = CreateTestProbe();

        writer.Tell(new MetadataWriter.Activate(requester.Ref, 1));
        var activated = requester.ExpectMsg<MetadataWriter.Activated>(Limit);
        Assert.Equal((1L, 1u, 0L), (activated.RequestId, activated.Era, activated.HeldRoot));

        writer.Tell(new MetadataWriter.Rollover(requester.Ref, 2));
        writer.Tell(new MetadataWriter.TakeSnapshot(requester.Ref, 3));
        writer.Tell(new MetadataWriter.TakeSnapshot(requester.Ref, 4));
        writer.Tell(new MetadataWriter.GetStatus(requester.Ref, 5));
        Assert.Equal(2u, requester.ExpectMsg<MetadataWriter.RolledOver>(Limit).Era);
        var taken = requester.ExpectMsg<MetadataWriter.SnapshotTaken>(Limit);
        Assert.Equal((3L, 3u), (taken.RequestId, taken.Era));
        var refused = requester.ExpectMsg<Failed>(Limit);
        Assert.Equal(4, refused.RequestId);
        Assert.IsType<EraMessageException>(refused.Cause);
        var status = requester.ExpectMsg<MetadataWriter.StatusLine>(Limit);
        Assert.Equal(5, status.RequestId);
        Assert.EndsWith($" 3 {taken.HeldRoot}", status.Line);

        writer.Tell(new MetadataWriter.Shutdown(requester.Ref, 6));
        Assert.Equal(new MetadataWriter.ShutdownComplete(6, null), requester.ExpectMsg<MetadataWriter.ShutdownComplete>(Limit));
    }

    [Fact]
    public void A_failed_commit_reaches_the_requester_as_the_typed_failure_and_the_writer_then_reports_Fail()
    {
        var device = new RecordingMetadataDevice(1024);
        var writer = Writer(device);
        var requester = CreateTestProbe();
        writer.Tell(new MetadataWriter.Activate(requester.Ref, 1));
        requester.ExpectMsg<MetadataWriter.Activated>(Limit);
        device.FailWrite = _ => true;

        writer.Tell(new MetadataWriter.Rollover(requester.Ref, 2));

        var failed = requester.ExpectMsg<Failed>(Limit);
        Assert.Equal(2, failed.RequestId);
        Assert.IsAssignableFrom<IOException>(failed.Cause);
        writer.Tell(new MetadataWriter.DigestStep(requester.Ref, 3));
        var refused = requester.ExpectMsg<Failed>(Limit);
        Assert.Equal(3, refused.RequestId);
        Assert.IsType<VolumeFailedException>(refused.Cause);
        writer.Tell(new MetadataWriter.GetStatus(requester.Ref, 4));
        Assert.Equal(new MetadataWriter.StatusLine(4, "Fail"), requester.ExpectMsg<MetadataWriter.StatusLine>(Limit));
        writer.Tell(new MetadataWriter.Shutdown(requester.Ref, 5));
        Assert.Same(failed.Cause, requester.ExpectMsg<MetadataWriter.ShutdownComplete>(Limit).Failure);
    }
}
