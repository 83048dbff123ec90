#nullable enable
using Akka.Actor;
using DmEra.Engine.Backup;
using DmEra.Metadata.Era;
using static DmEra.Engine.Actors.MetadataSnapshot;

namespace DmEra.Engine.Actors;

internal sealed class SnapshotActor : ReceiveActor
{
    private readonly IActorRef _writer;
    private readonly IActorRef _eraManager;
    // Replies come back in request order; each entry completes one caller.
    private readonly Queue<Action<object>> _pending = new();

    private readonly BackupViewSlot _views;

    public SnapshotActor(IActorRef writer, IActorRef eraManager, BackupViewSlot views)
    {
        _writer = writer;
        _eraManager = eraManager;
        _views = views;
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
            if (_views.Current is not null)
            {
                d.Reply.TrySetException(new EraMessageException("the metadata snapshot belongs to the backup view: use drop_backup_snap"));
                return;
            }
            _pending.Enqueue(reply =>
            {
                if (reply is MetadataWriter.SnapshotDropped) d.Reply.TrySetResult();
                else d.Reply.TrySetException(((MetadataWriter.OperationFailed)reply).Cause);
            });
            _writer.Tell(new MetadataWriter.DropSnapshot(Self));
        });
        Receive<BackupSnapshot.Take>(TakeBackup);
        Receive<BackupSnapshot.Drop>(DropBackup);
        Receive<MetadataWriter.SnapshotTaken>(t =>
        {
            _pending.Dequeue()(t);
            _eraManager.Tell(EraManager.KickDigest.Instance);   // taking a snapshot archived a writeset
        });
        Receive<MetadataWriter.SnapshotDropped>(d => _pending.Dequeue()(d));
        Receive<MetadataWriter.OperationFailed>(f => _pending.Dequeue()(f));
    }

    private void TakeBackup(BackupSnapshot.Take t)
    {
        if (_views.Current is not null)
        {
            t.View.Drop();
            t.Reply.TrySetException(new EraMessageException("backup view already exists"));
            return;
        }
        _pending.Enqueue(reply =>
        {
            if (reply is MetadataWriter.SnapshotTaken taken)
            {
                try
                {
                    t.View.Start(taken.HeldRoot, taken.Era - 1);   // the snapshot's rollover closed era E, E+1 is current
                }
                catch (Exception e)
                {
                    // The store cannot even take its header: no view, and the snapshot goes with it.
                    t.View.Drop();
                    _pending.Enqueue(_ => t.Reply.TrySetException(new IOException($"saved-copy store {t.View.StorePath}: {e.Message}", e)));
                    _writer.Tell(new MetadataWriter.DropSnapshot(Self));
                    return;
                }
                _views.Set(t.View);
                t.Reply.TrySetResult(t.View);
            }
            else
            {
                t.View.Drop();
                t.Reply.TrySetException(((MetadataWriter.OperationFailed)reply).Cause);
            }
        });
        _writer.Tell(new MetadataWriter.TakeSnapshot(Self));
    }

    private void DropBackup(BackupSnapshot.Drop d)
    {
        if (_views.Current is not { } view)
        {
            d.Reply.TrySetException(new EraMessageException("no backup view to drop"));
            return;
        }
        // Unpublished first: later first-writes go straight to the origin, later reads of the view fail.
        _views.Set(null);
        view.Drop();
        _pending.Enqueue(reply =>
        {
            if (reply is MetadataWriter.SnapshotDropped) d.Reply.TrySetResult();
            else d.Reply.TrySetException(((MetadataWriter.OperationFailed)reply).Cause);
        });
        _writer.Tell(new MetadataWriter.DropSnapshot(Self));
    }

    protected override void PostStop()
    {
        // The view ends with the volume; its file stays so that the next start drops its metadata snapshot.
        _views.Current?.Dispose();
        _views.Set(null);
        var error = new MetadataWriter.OperationFailed(new MetadataWriter.Shutdown(Self), new VolumeStoppingException("(snapshot actor)"));
        while (_pending.TryDequeue(out var complete)) complete(error);
    }
}
