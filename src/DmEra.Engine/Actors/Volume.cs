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
    public sealed record Start(IActorRef ReplyTo, long RequestId) : IRequest;
    public sealed record Started(long RequestId, IActorRef Writer, IActorRef EraManager, IActorRef Snapshots, EraTracker Tracker, uint Era)
    {
        /// <summary>The backup view the request path copies before writes for (set by the snapshot actor only).</summary>
        public Backup.BackupViewSlot Views { get; init; } = new();
    }

    /// <summary>Replies <see cref="Stopped"/> with the error of the final commit, or null when the metadata was closed cleanly.</summary>
    public sealed record Stop(IActorRef ReplyTo, long RequestId) : IRequest;
    public sealed record Stopped(long RequestId, Exception? Failure);

    /// <param name="gate">The volume's one gate (the router passes it per request; the era manager holds it).</param>
    /// <param name="intentLog">The volume's intent log of first writes, or null to commit every first write into the metadata.</param>
    public static Props Props(EngineSettings settings, MetadataDevice device, BlockGeometry geometry, VolumeCounters counters, WriteGate gate,
        MetadataDevice? intentLog = null) =>
        Akka.Actor.Props.Create(() => new VolumeActor(settings, device, geometry, counters, gate, intentLog));
}
