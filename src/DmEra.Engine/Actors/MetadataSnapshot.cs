#nullable enable
using Akka.Actor;

namespace DmEra.Engine.Actors;

/// <summary>
/// <c>take_metadata_snap</c> / <c>drop_metadata_snap</c>: at most one snapshot, refused with the kernel's
/// words ("metadata snapshot already exists", "no snap to drop"). The held root shows in the status line.
/// </summary>
public static class MetadataSnapshot
{
    public interface ICommand;

    /// <summary>Completes with the held root (the clone superblock's block number).</summary>
    public sealed record Take(TaskCompletionSource<long> Reply) : ICommand;

    public sealed record Drop(TaskCompletionSource Reply) : ICommand;

    public static Props Props(IActorRef writer, IActorRef eraManager, Backup.BackupViewSlot views) =>
        Akka.Actor.Props.Create(() => new SnapshotActor(writer, eraManager, views));
}
