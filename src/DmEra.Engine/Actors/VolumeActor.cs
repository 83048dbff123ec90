using Akka.Actor;
using Akka.Event;
using DmEra.Engine.Tracking;
using DmEra.Metadata.PersistentData;
using static DmEra.Engine.Actors.Volume;

namespace DmEra.Engine.Actors;

internal sealed class VolumeActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _writer;
    private readonly IActorRef _eraManager;
    private readonly IActorRef _snapshots;
    private readonly Backup.BackupViewSlot _views = new();
    private EraTracker? _tracker;
    private bool _writerStopped;

    public VolumeActor(EngineSettings settings, MetadataDevice device, BlockGeometry geometry, VolumeCounters counters, WriteGate gate,
        MetadataDevice? intentLog = null)
    {
        _writer = Context.ActorOf(MetadataWriter.Props(settings, device, geometry, counters, intentLog), "metadata-writer");
        _eraManager = Context.ActorOf(EraManager.Props(_writer, gate), "era-manager");
        _snapshots = Context.ActorOf(MetadataSnapshot.Props(_writer, _eraManager, _views), "metadata-snapshot");
        Context.Watch(_writer);
        Receive<Start>(s =>
        {
            var activate = new MetadataWriter.Activate(Self, Requests.NextId());
            _writer.Tell(activate);
            Become(() => Activating(s, activate.RequestId));
        });
        ReceiveWriterStopped();
    }

    /// <summary>
    /// A crashed child is stopped, never restarted: a restarted writer would have lost its open transaction
    /// and its waiters. The volume fails instead (writes refused, reads served) until it is started again.
    /// </summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    private void Activating(Start start, long activateId)
    {
        Receive<MetadataWriter.Activated>(a => a.RequestId == activateId, a =>
        {
            _tracker = a.Tracker;
            _snapshots.Tell(new MetadataSnapshot.HeldAtStart(a.HeldRoot));   // before anyone can ask it
            _eraManager.Tell(EraManager.KickDigest.Instance);   // a crash may have left archived writesets
            Become(Running);
            start.ReplyTo.Tell(new Started(start.RequestId, _writer, _eraManager, _snapshots, a.Tracker, a.Era) { Views = _views });
        });
        Receive<Failed>(f => f.RequestId == activateId, f =>
        {
            start.Fail(f.Cause);
            Context.Stop(Self);
        });
        ReceiveWriterStopped();
    }

    private void Running()
    {
        Receive<Stop>(s =>
        {
            if (_writerStopped)
            {
                s.ReplyTo.Tell(new Stopped(s.RequestId, new VolumeFailedException("the metadata writer stopped before the final commit")));
                Context.Stop(Self);
                return;
            }
            _eraManager.Tell(new EraManager.StopDigest(Self, Requests.NextId()));
            Become(() => Stopping(s));
        });
        ReceiveWriterStopped();
    }

    /// <summary>One request out at a time (digest stop, then the writer's shutdown), so each answer is matched by its type.</summary>
    private void Stopping(Stop stop)
    {
        Receive<EraManager.DigestStopped>(_ => _writer.Tell(new MetadataWriter.Shutdown(Self, Requests.NextId())));
        Receive<MetadataWriter.ShutdownComplete>(c =>
        {
            stop.ReplyTo.Tell(new Stopped(stop.RequestId, c.Failure));
            Context.Stop(Self);
        });
        Receive<Terminated>(t => t.ActorRef.Equals(_writer), _ =>
        {
            stop.ReplyTo.Tell(new Stopped(stop.RequestId, new VolumeFailedException("the metadata writer stopped before the final commit")));
            Context.Stop(Self);
        });
    }

    private void ReceiveWriterStopped() => Receive<Terminated>(t => t.ActorRef.Equals(_writer), _ =>
    {
        _writerStopped = true;
        var error = new VolumeFailedException("the metadata writer stopped unexpectedly");
        _log.Error(error, "volume failed");
        _tracker?.Fail(error);
    });
}
