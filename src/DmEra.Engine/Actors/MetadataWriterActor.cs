using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using DmEra.Engine.Durability;
using DmEra.Engine.Tracking;
using DmEra.Metadata;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;
using DmEra.Storage;
using static DmEra.Engine.Actors.MetadataWriter;

namespace DmEra.Engine.Actors;

/// <summary>
/// Group commit (Akka.Persistence's write-in-progress batching): first-writes that arrive while a commit
/// is in flight wait in the mailbox, because the commit blocks this pinned thread; the next commit takes
/// them all. The order inside a commit is the kernel's after fix 2099b145: on-disk bits, durable commit,
/// then in-core bits, then the waiters are released. A metadata error fails the whole batch and the
/// volume; the in-core bits stay clear, so no write of that batch ever reaches the origin.
/// </summary>
internal sealed class MetadataWriterActor : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    public ITimerScheduler Timers { get; set; } = null!;
    private readonly EngineSettings _settings;
    private readonly MetadataDevice _device;
    private readonly MetadataDevice? _intentLog;
    private readonly BlockGeometry _geometry;
    private readonly VolumeCounters _counters;
    private readonly List<FirstWrite> _waiters = new();
    private readonly HashSet<uint> _pendingBlocks = new();
    private EraMetadata? _md;
    private EraTracker? _tracker;
    private MarkLog? _marks;
    private bool _marksDueScheduled;
    private bool _commitScheduled;
    private long _batchStarted;
    private int _lastBatchSize;
    private Exception? _failure;

    public MetadataWriterActor(EngineSettings settings, MetadataDevice device, BlockGeometry geometry, VolumeCounters counters,
        MetadataDevice? intentLog = null)
    {
        _settings = settings;
        _device = device;
        _intentLog = intentLog;
        _geometry = geometry;
        _counters = counters;
        Inactive();
    }

    private EraMetadata Md => _md!;
    private EraTracker Tracker => _tracker!;

    private void Inactive()
    {
        Receive<Activate>(HandleActivate);
        Receive<Shutdown>(s =>
        {
            _device.Dispose();
            _intentLog?.Dispose();
            Become(Closed);
            s.ReplyTo.Tell(new ShutdownComplete(s.RequestId, null));
        });
        ReceiveAny(RefuseInactive);
    }

    private void Active()
    {
        Receive<FirstWrite>(HandleFirstWrite);
        Receive<CommitNow>(_ => HandleCommitNow());
        Receive<MarksDue>(_ => HandleMarksDue());
        Receive<BackgroundCommitted>(HandleBackgroundCommitted);
        Receive<Rollover>(HandleRollover);
        Receive<TakeSnapshot>(HandleTakeSnapshot);
        Receive<DropSnapshot>(HandleDropSnapshot);
        Receive<DigestStep>(HandleDigestStep);
        Receive<GetStatus>(g => g.ReplyTo.Tell(new StatusLine(g.RequestId, Md.Status.ToString())));
        Receive<QueryEras>(HandleQueryEras);
        Receive<QueryHeldEras>(q =>
        {
            try
            {
                if (q.Count < 0 || q.Count > _settings.MaxQueryBlocks) throw new ArgumentOutOfRangeException(nameof(q), "above max-query-blocks");
                // The snapshot actor checked the root; this guards the metadata itself (a dropped root's blocks are free).
                if (Md.MetadataSnap != q.HeldRoot) throw new InvalidOperationException($"metadata snapshot {q.HeldRoot} is no longer held");
                q.ReplyTo.Tell(new Eras(q.RequestId, EraQuery.ErasOfSnapshot(Md, q.HeldRoot, q.First, q.Count)));
            }
            catch (Exception e)
            {
                q.Fail(e);
            }
        });
        Receive<GetDigestPending>(g => g.ReplyTo.Tell(new DigestPending(g.RequestId, Md.HasDigestWork)));
        Receive<Shutdown>(HandleShutdown);
    }

    /// <summary>Metadata failed: nothing more is written to it. Reads of the origin go on elsewhere.</summary>
    private void Failed()
    {
        Receive<FirstWrite>(fw => FirstWriteRelease.Fail([fw], FailureFor("the write")));
        Receive<CommitNow>(_ => { });
        Receive<GetStatus>(g => g.ReplyTo.Tell(new StatusLine(g.RequestId, "Fail")));
        Receive<QueryEras>(q => q.Fail(FailureFor("the era query")));
        Receive<QueryHeldEras>(q => q.Fail(FailureFor("the era query")));
        Receive<Shutdown>(s =>
        {
            // No final commit: the in-memory transaction may be half applied; the last good commit stands.
            Close();
            s.ReplyTo.Tell(new ShutdownComplete(s.RequestId, _failure));
        });
        ReceiveAny(c => ReplyFailure(c, FailureFor("the request")));
    }

    private void Closed()
    {
        // Closed already (a second stop, or a failed activation): nothing more to commit.
        Receive<Shutdown>(s => s.ReplyTo.Tell(new ShutdownComplete(s.RequestId, null)));
        ReceiveAny(c => ReplyFailure(c, new InvalidOperationException("the volume's metadata is closed")));
    }

    private void HandleActivate(Activate a)
    {
        try
        {
            if (_geometry.NrBlocks > EraMetadata.MaxNrBlocks)
                throw new MetadataException(
                    $"origin too large: {_geometry.NrBlocks} tracking blocks of {_geometry.BlockBytes} bytes; the limit is {EraMetadata.MaxNrBlocks} (2^31 - 1)");
            _md = EraMetadata.Open(_device, _geometry.BlockSizeSectors);
            // Marks the intent log made durable go into the writeset they were logged in, before anything else.
            var nextSeq = 1ul;
            if (_intentLog is not null)
            {
                (var replayed, nextSeq) = MarkLog.Replay(_md, _intentLog);
                if (replayed.Records > 0) _log.Info("{0}", replayed);
            }
            var nrBlocks = (uint)_geometry.NrBlocks;
            // preresume (kernel fix cca2c6ae): resize before any background work, then commit.
            if (_md.NrBlocks != nrBlocks)
            {
                _md.Resize(nrBlocks);
                _md.Commit();
            }
            // A writeset left by a crash is archived under its era before the new era starts (fix de89afc1).
            _md.Rollover();
            _md.Commit();
            if (_intentLog is not null)
            {
                var self = Self;
                _marks = MarkLog.Start(_md, _intentLog, nextSeq, _settings, $"dmera-metadata-commit-{Self.Path.Parent.Name}",
                    error => self.Tell(new BackgroundCommitted(error)), _counters.AddBackgroundCommit);
            }
            _tracker = new EraTracker(nrBlocks, _md.CurrentEra) { TrackingId = _md.TrackingId };
            Become(Active);
            a.ReplyTo.Tell(new Activated(a.RequestId, _tracker, _md.CurrentEra, _md.HasDigestWork, _md.MetadataSnap));
        }
        catch (Exception e)
        {
            if (_md is not null) _md.Dispose(); else _device.Dispose();
            _intentLog?.Dispose();
            _md = null;
            Become(Closed);
            a.Fail(e);
        }
    }

    private void HandleFirstWrite(FirstWrite fw)
    {
        var current = Tracker.Current;
        var added = false;
        for (var b = fw.FirstBlock; ; b++)
        {
            if (!current.IsMarked(b))
            {
                _pendingBlocks.Add(b);   // a block already pending joins the same commit
                added = true;
            }
            if (b == fw.LastBlock) break;
        }
        if (!added)
        {
            // A commit that finished after the request looked at the bits already covered it.
            FirstWriteRelease.Succeed([fw]);
            return;
        }
        if (_waiters.Count == 0) _batchStarted = Stopwatch.GetTimestamp();
        _waiters.Add(fw);
        if (_pendingBlocks.Count >= _settings.MaxBlocksPerCommit)
            CommitBatch();
        else if (!_commitScheduled)
        {
            _commitScheduled = true;
            Self.Tell(CommitNow.Instance);
        }
    }

    private void HandleCommitNow()
    {
        _commitScheduled = false;
        if (_waiters.Count == 0) return;
        // Adaptive linger: the callers the last commit released usually come straight back with their next
        // first-write. Waiting (bounded by group-commit-linger) until as many are queued as last time lets
        // one fdatasync carry a whole queue depth instead of alternating half-batches. A lone writer
        // (last batch 1) never waits. With write-back the callers were answered before their commit and keep
        // sending; the linger then only makes each log append carry more marks (11 against 2.5 per commit at
        // 20k first-writes/s), fewer appends and fewer wake-ups of this thread and the pool.
        if (_waiters.Count < _lastBatchSize && _settings.GroupCommitLinger > TimeSpan.Zero
            && Stopwatch.GetElapsedTime(_batchStarted) is var waited && waited < _settings.GroupCommitLinger)
        {
            // One sleep for the rest of the linger; the first-writes that arrive meanwhile are ahead of the
            // CommitNow sent after it in the mailbox, so they join the batch. It used to spin (Thread.Yield
            // and a CommitNow per turn): at 20k first-writes/s that burned 20 µs of CPU per write on a host
            // of two cores and tripled the p99 of every request (bench/results/firstwrite-2026-12-04.md).
            _commitScheduled = true;
            ShortSleep.For(_settings.GroupCommitLinger - waited);
            Self.Tell(CommitNow.Instance);
            return;
        }
        CommitBatch();
    }

    /// <summary>Commits every pending first-write; false when metadata failed (the volume is then failed).</summary>
    private bool CommitBatch()
    {
        if (_waiters.Count == 0) return true;
        var blocks = _pendingBlocks.ToArray();
        Array.Sort(blocks);
        var waiters = _waiters.ToArray();
        _pendingBlocks.Clear();
        _waiters.Clear();
        var started = Stopwatch.GetTimestamp();
        try
        {
            if (_marks is not null) _marks.Append(Tracker.CurrentEra, blocks);
            else
            {
                Md.MarkBlocks(blocks);
                Md.Commit();
            }
        }
        catch (Exception e)
        {
            EnterFailed(e, waiters);
            return false;
        }
        var current = Tracker.Current;
        foreach (var b in blocks) current.MarkDurable(b);
        _counters.AddCommit(waiters.Length, blocks.Length, Stopwatch.GetElapsedTime(started));
        _lastBatchSize = waiters.Length;
        _counters.AddFirstWriteWaits(waiters);
        FirstWriteRelease.Succeed(waiters);
        if (_marks is not null) ScheduleBackgroundCommit();
        return true;
    }

    /// <summary>Starts the background commit of logged marks when it is due, or makes sure a timer will look again.</summary>
    private void ScheduleBackgroundCommit()
    {
        if (_marks!.Due) _marks.StartBackgroundCommit();
        else if (_marks.HasUncommitted && !_marksDueScheduled)
        {
            _marksDueScheduled = true;
            Timers.StartSingleTimer("marks-due", MarksDue.Instance, _settings.IntentLogCommitInterval);
        }
    }

    private void HandleMarksDue()
    {
        _marksDueScheduled = false;
        if (_marks is { Busy: false, HasUncommitted: true }) _marks.StartBackgroundCommit();
        else if (_marks is { HasUncommitted: true }) ScheduleBackgroundCommit();
    }

    private void HandleBackgroundCommitted(BackgroundCommitted c)
    {
        if (c.Failure is not null) EnterFailed(c.Failure, []);
        else ScheduleBackgroundCommit();
    }

    /// <summary>
    /// Every message but the first-write path's waits for a background commit in flight and puts the logged
    /// marks into the metadata's transaction: the metadata has one user at a time, and whatever a handler
    /// commits or answers includes every mark made durable so far.
    /// </summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        if (_marks is not null && _md is not null && message is not (FirstWrite or CommitNow or BackgroundCommitted or MarksDue)
            && _failure is null && _marks.Settle() is { } failure)
        {
            EnterFailed(failure, []);
            Self.Forward(message);   // answered by the failed state
            return true;
        }
        return base.AroundReceive(receive, message);
    }

    private void HandleRollover(Rollover r) => RunEraChange(r, () =>
    {
        Md.Rollover();
        Md.Commit();
        return new RolledOver(r.RequestId, Md.CurrentEra, Md.HasDigestWork);
    });

    private void HandleTakeSnapshot(TakeSnapshot t) => RunEraChange(t, () =>
    {
        var root = Md.TakeSnapshot();   // rollover + commit + clone, as metadata_take_snap
        Md.Commit();                    // the RPC commit that records the held root
        return new SnapshotTaken(t.RequestId, root, Md.CurrentEra);
    });

    private void HandleDropSnapshot(DropSnapshot d) => RunEraChange(d, () =>
    {
        Md.DropSnapshot();
        Md.Commit();
        return new SnapshotDropped(d.RequestId);
    });

    /// <summary>
    /// Era changes first commit the first-writes already collected (they were issued in the old era), then
    /// change the metadata and commit, then swap the in-core bitsets if the era moved. A refused message
    /// (the kernel's -EINVAL cases) changes nothing; any other error fails the volume. The swap stays here,
    /// with the commit, although the era manager decides when eras change: a first-write judged against the
    /// old era's bits after the new era's commit would skip its commit and go untracked.
    /// </summary>
    private void RunEraChange(IRequest request, Func<object> change)
    {
        if (!CommitBatch() || !SettleMarks())
        {
            request.Fail(_failure!);
            return;
        }
        object reply;
        try
        {
            reply = change();
        }
        catch (EraMessageException e)
        {
            request.Fail(e);
            return;
        }
        catch (Exception e)
        {
            EnterFailed(e, []);
            request.Fail(e);
            return;
        }
        if (Md.CurrentEra != Tracker.CurrentEra) Tracker.StartEra(Md.CurrentEra);
        _marks?.Committed();
        request.ReplyTo.Tell(reply);
    }

    private void HandleDigestStep(DigestStep d)
    {
        try
        {
            if (!Md.HasDigestWork)
            {
                d.ReplyTo.Tell(new DigestProgressed(d.RequestId, false));
                return;
            }
            var more = Md.DigestStep(_settings.DigestBitsPerStep);
            // A finished digest frees the writesets' blocks only once committed: commit so that long runs
            // of checkpoints reuse metadata space instead of exhausting it. A long one commits on the way too
            // (digest-commit-dirty-blocks), or it would hold every era-array block it rewrites.
            if (!more) Md.Commit();
            else Md.CommitIfDirty(_settings.DigestCommitDirtyBlocks);
            d.ReplyTo.Tell(new DigestProgressed(d.RequestId, more));
        }
        catch (Exception e)
        {
            EnterFailed(e, []);
            d.Fail(e);
        }
    }

    private void HandleQueryEras(QueryEras q)
    {
        try
        {
            if (q.Count < 0 || q.Count > _settings.MaxQueryBlocks || (ulong)q.First + (ulong)q.Count > Md.NrBlocks)
                throw new ArgumentOutOfRangeException(nameof(q),
                    $"blocks [{q.First}, +{q.Count}) are outside the volume's {Md.NrBlocks} blocks or above max-query-blocks");
            q.ReplyTo.Tell(new Eras(q.RequestId, EraQuery.ErasOf(Md, Tracker.Current, Tracker.CurrentEra, q.First, q.Count)));
        }
        catch (Exception e)
        {
            q.Fail(e);
        }
    }

    private void HandleShutdown(Shutdown s)
    {
        Exception? failure = null;
        if (CommitBatch() && SettleMarks())
        {
            try
            {
                // postsuspend after fix 9ae6e8b1: archive, finish all background work, and only then the
                // final commit, so nothing is left to write after the metadata is handed over.
                Md.Archive();
                Md.DigestAll(_settings.DigestCommitDirtyBlocks);
                Md.Commit();
                // Every mark is in the metadata now: an empty log leaves era_invalidate nothing to miss.
                _marks?.Committed();
            }
            catch (Exception e)
            {
                failure = e;
                _log.Error(e, "final metadata commit failed; the last good commit stands");
            }
        }
        else failure = _failure;
        Close();
        s.ReplyTo.Tell(new ShutdownComplete(s.RequestId, failure));
    }

    /// <summary>Puts the logged marks into the metadata (after a background commit in flight); false when that commit failed the volume.</summary>
    private bool SettleMarks()
    {
        if (_marks?.Settle() is not { } failure) return true;
        EnterFailed(failure, []);
        return false;
    }

    private void EnterFailed(Exception cause, FirstWrite[] batch)
    {
        _failure = cause;
        _log.Error(cause, "metadata failed; the volume now refuses writes (reads are still served)");
        Tracker.Fail(cause);
        var error = FailureFor("the write");
        FirstWriteRelease.Fail([.. batch, .. _waiters], error);
        _waiters.Clear();
        _pendingBlocks.Clear();
        Become(Failed);
    }

    private VolumeFailedException FailureFor(string what) =>
        new($"metadata failed, so {what} was refused: {_failure?.Message}", _failure);

    private void Close()
    {
        _marks?.Dispose();
        _marks = null;
        _md?.Dispose();
        _md = null;
        Become(Closed);
    }

    private void RefuseInactive(object message) =>
        ReplyFailure(message, new InvalidOperationException("the volume has not been activated"));

    private static void ReplyFailure(object message, Exception e)
    {
        if (message is IRequest request) request.Fail(e);
        else if (message is FirstWrite fw) FirstWriteRelease.Fail([fw], e);
    }

    protected override void PostStop()
    {
        // Stopped without a Shutdown (a crash of the tree, or the system going away): fail the waiters so no
        // caller hangs, and write nothing more. Whatever was committed is what a crash would leave.
        var error = new VolumeFailedException("the volume's metadata writer stopped");
        FirstWriteRelease.Fail([.. _waiters], error);
        _waiters.Clear();
        _marks?.Dispose();   // waits for a background commit in flight; appends nothing more
        _marks = null;
        _md?.Dispose();   // closes the device (and its flock) without writing anything
        _md = null;
    }
}
