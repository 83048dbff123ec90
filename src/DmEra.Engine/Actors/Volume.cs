using Akka.Actor;
using DmEra.Engine.Tracking;
using DmEra.Metadata.PersistentData;

namespace DmEra.Engine.Actors;

/// <summary>
/// One volume = one supervised tree: the metadata writer, the era manager and the snapshot actor. Start is
/// the kernel's ctr + preresume; stop is postsuspend (after the request path has drained).
/// </summary>
public static class Volume
{
    public interface ICommand;

    public sealed record Start(TaskCompletionSource<Started> Reply) : ICommand;
    public sealed record Started(IActorRef Writer, IActorRef EraManager, IActorRef Snapshots, EraTracker Tracker, uint Era)
    {
        /// <summary>The backup view the request path copies before writes for (set by the snapshot actor only).</summary>
        public Backup.BackupViewSlot Views { get; init; } = new();
    }

    /// <summary>Completes with the error of the final commit, or null when the metadata was closed cleanly.</summary>
    public sealed record Stop(TaskCompletionSource<Exception?> Reply) : ICommand;

    public static Props Props(EngineSettings settings, IMetadataDevice device, BlockGeometry geometry, VolumeCounters counters,
        IMetadataDevice? intentLog = null) =>
        Akka.Actor.Props.Create(() => new VolumeActor(settings, device, geometry, counters, intentLog));
}
