using Akka.Actor;
using DmEra.Engine.Actors;

namespace DmEra.Engine.Tests.Actors;

/// <summary>The era manager alone, a probe standing for the metadata writer (as Akka.NET's Delivery specs drive their controllers).</summary>
public sealed class EraManagerActorSpecs(ITestOutputHelper output) : EngineSpec(output)
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(200);

    private (Akka.TestKit.TestProbe Writer, IActorRef EraManager, WriteGate Gate) Start()
    {
        var writer = CreateTestProbe();
        var gate = new WriteGate("v");
        return (writer, Sys.ActorOf(EraManager.Props(writer.Ref, gate)), gate);
    }

    [Fact]
    public void A_checkpoint_asks_the_writer_for_a_rollover_and_answers_the_requester_with_the_new_era()
    {
        var (writer, eraManager, _) = Start();
        var requester = CreateTestProbe();

        eraManager.Tell(new EraManager.Checkpoint(requester.Ref, 7));
        var rollover = writer.ExpectMsg<MetadataWriter.Rollover>(Limit);
        Assert.Equal(eraManager, rollover.ReplyTo);
        rollover.ReplyTo.Tell(new MetadataWriter.RolledOver(rollover.RequestId, 5, HasDigestWork: false));

        Assert.Equal(new EraManager.CheckpointDone(7, 5), requester.ExpectMsg<EraManager.CheckpointDone>(Limit));
        writer.ExpectNoMsg(Quiet);   // nothing archived, so no digest step
    }

    [Fact]
    public void A_failed_rollover_reaches_the_requester_as_the_typed_failure()
    {
        var (writer, eraManager, _) = Start();
        var requester = CreateTestProbe();

        eraManager.Tell(new EraManager.Checkpoint(requester.Ref, 3));
        var rollover = writer.ExpectMsg<MetadataWriter.Rollover>(Limit);
        var cause = new VolumeFailedException("metadata failed");
        rollover.ReplyTo.Tell(new Failed(rollover.RequestId, cause));

        var failed = requester.ExpectMsg<Failed>(Limit);
        Assert.Equal(3, failed.RequestId);
        Assert.Same(cause, failed.Cause);
    }

    [Fact]
    public void Answers_to_two_checkpoints_reach_their_own_requesters_whatever_order_they_come_back_in()
    {
        var (writer, eraManager, _) = Start();
        var first = CreateTestProbe();
        var second = CreateTestProbe();

        eraManager.Tell(new EraManager.Checkpoint(first.Ref, 1));
        eraManager.Tell(new EraManager.Checkpoint(second.Ref, 2));
        var r1 = writer.ExpectMsg<MetadataWriter.Rollover>(Limit);
        var r2 = writer.ExpectMsg<MetadataWriter.Rollover>(Limit);
        Assert.NotEqual(r1.RequestId, r2.RequestId);
        eraManager.Tell(new Failed(r2.RequestId, new InvalidOperationException("second")));
        eraManager.Tell(new MetadataWriter.RolledOver(r1.RequestId, 9, false));

        Assert.Equal("second", second.ExpectMsg<Failed>(Limit).Cause.Message);
        Assert.Equal(new EraManager.CheckpointDone(1, 9), first.ExpectMsg<EraManager.CheckpointDone>(Limit));
    }

    [Fact]
    public void A_rollover_that_archived_a_writeset_starts_the_digest_one_step_at_a_time_until_none_is_left()
    {
        var (writer, eraManager, _) = Start();

        eraManager.Tell(new EraManager.Checkpoint(CreateTestProbe().Ref, 1));
        var rollover = writer.ExpectMsg<MetadataWriter.Rollover>(Limit);
        eraManager.Tell(new MetadataWriter.RolledOver(rollover.RequestId, 2, HasDigestWork: true));
        var step = writer.ExpectMsg<MetadataWriter.DigestStep>(Limit);
        eraManager.Tell(EraManager.KickDigest.Instance);
        writer.ExpectNoMsg(Quiet);   // one step in flight at a time

        eraManager.Tell(new MetadataWriter.DigestProgressed(step.RequestId, MoreWork: true));
        var next = writer.ExpectMsg<MetadataWriter.DigestStep>(Limit);
        eraManager.Tell(new MetadataWriter.DigestProgressed(next.RequestId, MoreWork: false));
        writer.ExpectNoMsg(Quiet);
    }

    [Fact]
    public void Stopping_the_digest_waits_for_the_step_in_flight_and_sends_no_more()
    {
        var (writer, eraManager, _) = Start();
        var stopper = CreateTestProbe();

        eraManager.Tell(EraManager.KickDigest.Instance);
        var step = writer.ExpectMsg<MetadataWriter.DigestStep>(Limit);
        eraManager.Tell(new EraManager.StopDigest(stopper.Ref, 4));
        stopper.ExpectNoMsg(Quiet);

        eraManager.Tell(new MetadataWriter.DigestProgressed(step.RequestId, MoreWork: true));
        Assert.Equal(new EraManager.DigestStopped(4), stopper.ExpectMsg<EraManager.DigestStopped>(Limit));
        writer.ExpectNoMsg(Quiet);
    }

    [Fact]
    public async Task A_write_hold_answers_once_the_gate_is_empty_refuses_a_second_hold_and_ends_at_release()
    {
        var (_, eraManager, gate) = Start();
        var holder = CreateTestProbe();
        gate.EnterRead();   // a request in flight

        eraManager.Tell(new EraManager.HoldWrites(holder.Ref, 1));
        await AwaitConditionAsync(() => Task.FromResult(!gate.WritesReleased.IsCompleted), Limit);
        Assert.False(gate.TryEnterWrite());
        holder.ExpectNoMsg(Quiet);
        gate.Leave();
        Assert.Equal(new EraManager.WritesHeld(1), holder.ExpectMsg<EraManager.WritesHeld>(Limit));

        eraManager.Tell(new EraManager.HoldWrites(holder.Ref, 2));
        var refused = holder.ExpectMsg<Failed>(Limit);
        Assert.Equal(2, refused.RequestId);
        Assert.IsType<InvalidOperationException>(refused.Cause);

        eraManager.Tell(EraManager.ReleaseWrites.Instance);
        await gate.WritesReleased.WaitAsync(Limit);
        Assert.True(gate.TryEnterWrite());
        gate.Leave();
    }

    [Fact]
    public async Task A_stopped_era_manager_fails_the_checkpoints_it_was_carrying_out_and_ends_its_hold()
    {
        var (writer, eraManager, gate) = Start();
        var requester = CreateTestProbe();
        eraManager.Tell(new EraManager.HoldWrites(requester.Ref, 1));
        requester.ExpectMsg<EraManager.WritesHeld>(Limit);
        eraManager.Tell(new EraManager.Checkpoint(requester.Ref, 2));
        writer.ExpectMsg<MetadataWriter.Rollover>(Limit);

        Sys.Stop(eraManager);

        var failed = requester.ExpectMsg<Failed>(Limit);
        Assert.Equal(2, failed.RequestId);
        Assert.IsType<VolumeStoppingException>(failed.Cause);
        await gate.WritesReleased.WaitAsync(Limit);
    }
}
