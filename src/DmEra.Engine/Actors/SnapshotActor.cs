using Akka.Actor;
using DmEra.Engine.Backup;
using DmEra.Metadata.Era;
using static DmEra.Engine.Actors.MetadataSnapshot;

namespace DmEra.Engine.Actors;

/// <summary>
/// Owns what is held: the metadata snapshot's root (persisted by the writer in the superblock, known here) and
/// the backup view with its saved-copy store. It decides take and drop; the writer carries them out.
/// </summary>
internal sealed class SnapshotActor : ReceiveActor
{
    private readonly IActorRef _writer;
    private readonly IActorRef _eraManager;
    private readonly BackupViewSlot _views;
    // Take/drop requests the writer is carrying out, by the id of the writer's request: who asked, and what to do with the answer.
    private readonly Dictionary<long, (IRequest Requester, Action<object> OnReply)> _pending = new();
    private long _heldRoot;   // 0 = none

    public SnapshotActor(IActorRef writer, IActorRef eraManager, BackupViewSlot views)
    {
        _writer = writer;
        _eraManager = eraManager;
        _views = views;
        Receive<HeldAtStart>(h => _heldRoot = h.HeldRoot);
        Receive<Take>(t =>
        {
            // Decided here when nothing is on its way to the writer; otherwise the writer decides in order.
            if (_pending.Count == 0 && _heldRoot != 0)
            {
                t.Fail(new EraMessageException("metadata snapshot already exists"));
                return;
            }
            AskWriter(t, id => new MetadataWriter.TakeSnapshot(Self, id), reply =>
            {
                if (reply is MetadataWriter.SnapshotTaken taken) t.ReplyTo.Tell(new Taken(t.RequestId, taken.HeldRoot));
                else t.Fail(((Failed)reply).Cause);
            });
        });
        Receive<Drop>(d =>
        {
            if (_views.Current is not null)
            {
                d.Fail(new EraMessageException("the metadata snapshot belongs to the backup view: use drop_backup_snap"));
                return;
            }
            if (_pending.Count == 0 && _heldRoot == 0)
            {
                d.Fail(new EraMessageException("no snap to drop"));
                return;
            }
            AskWriter(d, id => new MetadataWriter.DropSnapshot(Self, id), reply =>
            {
                if (reply is MetadataWriter.SnapshotDropped) d.ReplyTo.Tell(new Dropped(d.RequestId));
                else d.Fail(((Failed)reply).Cause);
            });
        });
        Receive<QueryHeldEras>(q =>
        {
            if (q.HeldRoot != _heldRoot || q.HeldRoot == 0)
                q.Fail(new InvalidOperationException($"metadata snapshot {q.HeldRoot} is no longer held"));
            else
                _writer.Tell(new MetadataWriter.QueryHeldEras(q.ReplyTo, q.RequestId, q.HeldRoot, q.First, q.Count));   // answered straight to the asker
        });
        Receive<BackupSnapshot.Take>(TakeBackup);
        Receive<BackupSnapshot.Drop>(DropBackup);
        Receive<MetadataWriter.SnapshotTaken>(t =>
        {
            _heldRoot = t.HeldRoot;
            Complete(t.RequestId, t);
            _eraManager.Tell(EraManager.KickDigest.Instance);   // taking a snapshot archived a writeset
        });
        Receive<MetadataWriter.SnapshotDropped>(d =>
        {
            _heldRoot = 0;
            Complete(d.RequestId, d);
        });
        Receive<Failed>(f => Complete(f.RequestId, f));
    }

    private void AskWriter(IRequest requester, Func<long, IRequest> request, Action<object> onReply)
    {
        var id = Requests.NextId();
        _pending.Add(id, (requester, onReply));
        _writer.Tell(request(id));
    }

    private void Complete(long writerRequestId, object reply)
    {
        if (_pending.Remove(writerRequestId, out var entry)) entry.OnReply(reply);
    }

    private void TakeBackup(BackupSnapshot.Take t)
    {
        if (_views.Current is not null)
        {
            t.View.Drop();
            t.Fail(new EraMessageException("backup view already exists"));
            return;
        }
        if (_pending.Count == 0 && _heldRoot != 0)
        {
            t.View.Drop();
            t.Fail(new EraMessageException("metadata snapshot already exists"));
            return;
        }
        AskWriter(t, id => new MetadataWriter.TakeSnapshot(Self, id), reply =>
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
                    var error = new IOException($"saved-copy store {t.View.StorePath}: {e.Message}", e);
                    AskWriter(t, id => new MetadataWriter.DropSnapshot(Self, id), _ => t.Fail(error));
                    return;
                }
                _views.Set(t.View);
                t.ReplyTo.Tell(new BackupSnapshot.ViewTaken(t.RequestId, t.View));
            }
            else
            {
                t.View.Drop();
                t.Fail(((Failed)reply).Cause);
            }
        });
    }

    private void DropBackup(BackupSnapshot.Drop d)
    {
        if (_views.Current is not { } view)
        {
            d.Fail(new EraMessageException("no backup view to drop"));
            return;
        }
        // Unpublished first: later first-writes go straight to the origin, later reads of the view fail.
        _views.Set(null);
        view.Drop();
        AskWriter(d, id => new MetadataWriter.DropSnapshot(Self, id), reply =>
        {
            if (reply is MetadataWriter.SnapshotDropped) d.ReplyTo.Tell(new BackupSnapshot.ViewDropped(d.RequestId));
            else d.Fail(((Failed)reply).Cause);
        });
    }

    protected override void PostStop()
    {
        // The view ends with the volume; its file stays so that the next start drops its metadata snapshot.
        _views.Current?.Dispose();
        _views.Set(null);
        // Whoever still waits gets the typed failure; what the writer does with the requests is its own affair.
        var error = new VolumeStoppingException("(snapshot actor)");
        foreach (var (id, entry) in _pending) entry.OnReply(new Failed(id, error));
        _pending.Clear();
    }
}
