using Akka.Actor;

namespace DmEra.Engine.Actors;

/// <summary>
/// <c>take_metadata_snap</c> / <c>drop_metadata_snap</c>, handled by the snapshot actor, which owns what is
/// held: at most one snapshot, refused with the kernel's words ("metadata snapshot already exists", "no snap
/// to drop"). The held root shows in the status line.
/// </summary>
public static class MetadataSnapshot
{
    /// <summary>Replies <see cref="Taken"/> with the held root (the clone superblock's block number).</summary>
    public sealed record Take(IActorRef ReplyTo, long RequestId) : IRequest;
    public sealed record Taken(long RequestId, long HeldRoot);

    public sealed record Drop(IActorRef ReplyTo, long RequestId) : IRequest;
    public sealed record Dropped(long RequestId);

    /// <summary>
    /// The era of each block of [First, First + Count) as of the snapshot held at <paramref name="HeldRoot"/>;
    /// refused once that root is no longer held, else answered by the writer (<see cref="MetadataWriter.Eras"/>).
    /// </summary>
    public sealed record QueryHeldEras(IActorRef ReplyTo, long RequestId, long HeldRoot, uint First, int Count) : IRequest;

    /// <summary>From the volume actor at activation: the root a previous run left held (0 = none). No reply.</summary>
    public sealed record HeldAtStart(long HeldRoot);

    public static Props Props(IActorRef writer, IActorRef eraManager, Backup.BackupViewSlot views) =>
        Akka.Actor.Props.Create(() => new SnapshotActor(writer, eraManager, views));
}
