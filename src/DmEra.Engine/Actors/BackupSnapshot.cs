using Akka.Actor;
using DmEra.Engine.Backup;

namespace DmEra.Engine.Actors;

/// <summary>
/// <c>take_backup_snap</c> / <c>drop_backup_snap</c>, handled by the snapshot actor, which owns the view: a
/// metadata snapshot taken at the instant (so its era answers are exact for it) and the view's saved-copy
/// store. At most one view, and not beside a plain metadata snapshot (there is one held root).
/// </summary>
public static class BackupSnapshot
{
    /// <summary>
    /// Takes the instant and starts <paramref name="View"/> (created, not yet started, by the caller, who holds
    /// writes for the instant). Replies <see cref="ViewTaken"/> with the started view; on refusal the view's file is deleted.
    /// </summary>
    public sealed record Take(IActorRef ReplyTo, long RequestId, BackupView View) : IRequest;
    public sealed record ViewTaken(long RequestId, BackupView View);

    /// <summary>Ends the view (its readers get errors, its saved copies are deleted) and drops its metadata snapshot.</summary>
    public sealed record Drop(IActorRef ReplyTo, long RequestId) : IRequest;
    public sealed record ViewDropped(long RequestId);
}
