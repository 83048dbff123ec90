using Akka.Actor;

namespace DmEra.Engine.Actors;

/// <summary>
/// Era policy: <c>checkpoint</c> requests, and the background digest of archived writesets into the era
/// array. The digest is driven one bounded step at a time (<see cref="MetadataWriter.DigestStep"/>), each
/// step a separate message to the writer, so first-write commits interleave with it and I/O never waits
/// for a whole writeset to be folded.
/// </summary>
public static class EraManager
{
    public interface ICommand;

    /// <summary>Completes with the new era once the rollover is durable.</summary>
    public sealed record Checkpoint(TaskCompletionSource<uint> Reply) : ICommand;

    /// <summary>Archived writesets may exist (after activation, a snapshot): digest them if not already doing so.</summary>
    public sealed class KickDigest : ICommand
    {
        public static readonly KickDigest Instance = new();
        private KickDigest() { }
    }

    /// <summary>Stop issuing digest steps (the writer drains the rest at shutdown); replies <see cref="DigestStopped"/>.</summary>
    public sealed record StopDigest(IActorRef ReplyTo) : ICommand;
    public sealed record DigestStopped;

    public static Props Props(IActorRef writer) => Akka.Actor.Props.Create(() => new EraManagerActor(writer));
}
