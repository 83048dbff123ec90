using Akka.Actor;
using DmEra.Engine.Actors;
using DmEra.Engine.Tracking;
using DmEra.Metadata;
using DmEra.Metadata.Era;

namespace DmEra.Engine.Tests.Actors;

/// <summary>The volume actor (with its real children on a memory device), a probe as the facade.</summary>
public sealed class VolumeActorSpecs(ITestOutputHelper output) : EngineSpec(output)
{
    private const int B = 4096;

    [Fact]
    public void Start_and_stop_answer_with_their_request_ids()
    {
        var volume = Sys.ActorOf(Volume.Props(EngineSettings.Create(Sys), Memory(), new BlockGeometry(8, 64 * B), new VolumeCounters(), new WriteGate("v")));
        var facade = CreateTestProbe();
        facade.Watch(volume);

        volume.Tell(new Volume.Start(facade.Ref, 21));
        var started = facade.ExpectMsg<Volume.Started>(Limit);
        Assert.Equal((21L, 1u), (started.RequestId, started.Era));
        volume.Tell(new Volume.Stop(facade.Ref, 22));

        Assert.Equal(new Volume.Stopped(22, null), facade.ExpectMsg<Volume.Stopped>(Limit));
        facade.ExpectTerminated(volume, Limit);
    }

    [Fact]
    public void A_failed_activation_reaches_the_requester_as_the_typed_failure_and_the_volume_actor_stops()
    {
        var tooLarge = new BlockGeometry(8, (long)EraMetadata.MaxNrBlocks * B + B);
        var volume = Sys.ActorOf(Volume.Props(EngineSettings.Create(Sys), Memory(), tooLarge, new VolumeCounters(), new WriteGate("v")));
        var facade = CreateTestProbe();
        facade.Watch(volume);

        volume.Tell(new Volume.Start(facade.Ref, 5));

        var failed = facade.ExpectMsg<Failed>(Limit);
        Assert.Equal(5, failed.RequestId);
        Assert.Contains("origin too large", Assert.IsType<MetadataException>(failed.Cause).Message);
        facade.ExpectTerminated(volume, Limit);
    }
}
