using Akka.Actor;

namespace DmEra.Engine.Actors;

/// <summary>
/// Era policy: when eras change (<c>checkpoint</c>), the write hold that puts a group checkpoint's era
/// boundary at one instant, and the background digest of archived writesets into the era array. The digest
/// is driven one bounded step at a time (<see cref="MetadataWriter.DigestStep"/>), each step a separate
/// message to the writer, so first-write commits interleave with it and I/O never waits for a whole writeset
/// to be folded. The writer carries the changes out; this actor decides them.
/// </summary>
public static class EraManager
{
    /// <summary>Replies <see cref="CheckpointDone"/> with the new era once the rollover is durable.</summary>
    public sealed record Checkpoint(IActorRef ReplyTo, long RequestId) : IRequest;
    public sealed record CheckpointDone(long RequestId, uint Era);

    /// <summary>
    /// Holds new writes at the volume's gate and replies <see cref="WritesHeld"/> once no request is in flight
    /// (the instant of a group checkpoint or a backup view). Refused while a hold is already in place.
    /// </summary>
    public sealed record HoldWrites(IActorRef ReplyTo, long RequestId) : IRequest;
    public sealed record WritesHeld(long RequestId);

    /// <summary>Ends the hold (also one whose drain the requester stopped waiting for). No reply.</summary>
    public sealed class ReleaseWrites
    {
        public static readonly ReleaseWrites Instance = new();
        private ReleaseWrites() { }
    }

    /// <summary>Archived writesets may exist (after activation, a snapshot): digest them if not already doing so. No reply.</summary>
    public sealed class KickDigest
    {
        public static readonly KickDigest Instance = new();
        private KickDigest() { }
    }

    /// <summary>Stop issuing digest steps (the writer drains the rest at shutdown); replies <see cref="DigestStopped"/>.</summary>
    public sealed record StopDigest(IActorRef ReplyTo, long RequestId) : IRequest;
    public sealed record DigestStopped(long RequestId);

    public static Props Props(IActorRef writer, WriteGate gate) => Akka.Actor.Props.Create(() => new EraManagerActor(writer, gate));
}
