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

    public VolumeActor(EngineSettings settings, IMetadataDevice device, BlockGeometry geometry, VolumeCounters counters,
        IMetadataDevice? intentLog = null)
    {
        _writer = Context.ActorOf(MetadataWriter.Props(settings, device, geometry, counters, intentLog), "metadata-writer");
        _eraManager = Context.ActorOf(EraManager.Props(_writer), "era-manager");
        _snapshots = Context.ActorOf(MetadataSnapshot.Props(_writer, _eraManager, _views), "metadata-snapshot");
        Context.Watch(_writer);
        Receive<Start>(s =>
        {
            _writer.Tell(new MetadataWriter.Activate(Self));
            Become(() => Activating(s.Reply));
        });
        ReceiveWriterStopped();
    }

    /// <summary>
    /// A crashed child is stopped, never restarted: a restarted writer would have lost its open transaction
    /// and its waiters. The volume fails instead (writes refused, reads served) until it is started again.
    /// </summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    private void Activating(TaskCompletionSource<Started> reply)
    {
        Receive<MetadataWriter.Activated>(a =>
        {
            _tracker = a.Tracker;
            _eraManager.Tell(EraManager.KickDigest.Instance);   // a crash may have left archived writesets
            Become(Running);
            reply.TrySetResult(new Started(_writer, _eraManager, _snapshots, a.Tracker, a.Era) { Views = _views });
        });
        Receive<MetadataWriter.OperationFailed>(f =>
        {
            reply.TrySetException(f.Cause);
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
                s.Reply.TrySetResult(new VolumeFailedException("the metadata writer stopped before the final commit"));
                Context.Stop(Self);
                return;
            }
            _eraManager.Tell(new EraManager.StopDigest(Self));
            Become(() => Stopping(s.Reply));
        });
        ReceiveWriterStopped();
    }

    private void Stopping(TaskCompletionSource<Exception?> reply)
    {
        Receive<EraManager.DigestStopped>(_ => _writer.Tell(new MetadataWriter.Shutdown(Self)));
        Receive<MetadataWriter.ShutdownComplete>(c =>
        {
            reply.TrySetResult(c.Failure);
            Context.Stop(Self);
        });
        Receive<Terminated>(t => t.ActorRef.Equals(_writer), _ =>
        {
            reply.TrySetResult(new VolumeFailedException("the metadata writer stopped before the final commit"));
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
