using Akka.Actor;
using static DmEra.Engine.Actors.MetadataSnapshot;

namespace DmEra.Engine.Actors;

internal sealed class SnapshotActor : ReceiveActor
{
    private readonly IActorRef _writer;
    private readonly IActorRef _eraManager;
    // Replies come back in request order; each entry completes one caller.
    private readonly Queue<Action<object>> _pending = new();

    public SnapshotActor(IActorRef writer, IActorRef eraManager)
    {
        _writer = writer;
        _eraManager = eraManager;
        Receive<Take>(t =>
        {
            _pending.Enqueue(reply =>
            {
                if (reply is MetadataWriter.SnapshotTaken taken) t.Reply.TrySetResult(taken.HeldRoot);
                else t.Reply.TrySetException(((MetadataWriter.OperationFailed)reply).Cause);
            });
            _writer.Tell(new MetadataWriter.TakeSnapshot(Self));
        });
        Receive<Drop>(d =>
        {
            _pending.Enqueue(reply =>
            {
                if (reply is MetadataWriter.SnapshotDropped) d.Reply.TrySetResult();
                else d.Reply.TrySetException(((MetadataWriter.OperationFailed)reply).Cause);
            });
            _writer.Tell(new MetadataWriter.DropSnapshot(Self));
        });
        Receive<MetadataWriter.SnapshotTaken>(t =>
        {
            _pending.Dequeue()(t);
            _eraManager.Tell(EraManager.KickDigest.Instance);   // taking a snapshot archived a writeset
        });
        Receive<MetadataWriter.SnapshotDropped>(d => _pending.Dequeue()(d));
        Receive<MetadataWriter.OperationFailed>(f => _pending.Dequeue()(f));
    }

    protected override void PostStop()
    {
        var error = new MetadataWriter.OperationFailed(new MetadataWriter.Shutdown(Self), new VolumeStoppingException("(snapshot actor)"));
        while (_pending.TryDequeue(out var complete)) complete(error);
    }
}
