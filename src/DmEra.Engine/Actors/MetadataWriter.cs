using Akka.Actor;
using DmEra.Engine.Tracking;
using DmEra.Metadata.PersistentData;

namespace DmEra.Engine.Actors;

/// <summary>
/// The one owner of a volume's <see cref="DmEra.Metadata.Era.EraMetadata"/>: every change to the metadata
/// (first-write bits, rollover, digest steps, snapshots, the final commit) is a message here, so they are
/// serialised with the group commits without locks (the kernel's one worker). It carries out, it does not
/// decide: checkpoints and the digest's pace are the era manager's, what is held the snapshot actor's. It
/// runs on a pinned thread because commits block in fdatasync.
/// </summary>
public static class MetadataWriter
{
    /// <summary>Open (format when zeroed), resize to the origin, archive a writeset a crash left, start a new era.</summary>
    public sealed record Activate(IActorRef ReplyTo, long RequestId) : IRequest;
    /// <summary><paramref name="HeldRoot"/>: the metadata snapshot a previous run left held (0 = none), for the snapshot actor.</summary>
    public sealed record Activated(long RequestId, EraTracker Tracker, uint Era, bool HasDigestWork, long HeldRoot);

    /// <summary>
    /// A write, trim or write-zeroes overlapping blocks [FirstBlock, LastBlock], some not yet marked in the
    /// current era. <see cref="Durable"/> completes once a commit that marks all of them is durable (or
    /// fails with <see cref="VolumeFailedException"/>); only then may the request touch the origin.
    /// The one message outside the reply convention: it is the I/O path's, sent by the router from the
    /// caller's async flow, and a whole batch is completed off the pinned thread in one work item
    /// (<see cref="FirstWriteRelease"/>) instead of one reply message per request.
    /// </summary>
    /// <paramref name="SentAt"/>: the <see cref="System.Diagnostics.Stopwatch"/> timestamp at which the router sent it.
    public sealed record FirstWrite(uint FirstBlock, uint LastBlock, TaskCompletionSource Durable, long SentAt);

    /// <summary>checkpoint (asked by the era manager): archive the current writeset, start the next era, commit.</summary>
    public sealed record Rollover(IActorRef ReplyTo, long RequestId) : IRequest;
    public sealed record RolledOver(long RequestId, uint Era, bool HasDigestWork);

    /// <summary>Asked by the snapshot actor: rollover + commit + clone (metadata_take_snap), then the commit that records the root.</summary>
    public sealed record TakeSnapshot(IActorRef ReplyTo, long RequestId) : IRequest;
    public sealed record SnapshotTaken(long RequestId, long HeldRoot, uint Era);

    public sealed record DropSnapshot(IActorRef ReplyTo, long RequestId) : IRequest;
    public sealed record SnapshotDropped(long RequestId);

    /// <summary>Fold at most <c>digest-bits-per-step</c> bits of the oldest archived writeset into the era array (asked by the era manager).</summary>
    public sealed record DigestStep(IActorRef ReplyTo, long RequestId) : IRequest;
    public sealed record DigestProgressed(long RequestId, bool MoreWork);

    /// <summary>The kernel's status line, or <c>Fail</c> once metadata has failed (dm-cache's word for its fail mode).</summary>
    public sealed record GetStatus(IActorRef ReplyTo, long RequestId) : IRequest;
    public sealed record StatusLine(long RequestId, string Line);

    /// <summary>The era each block of [First, First + Count) was last written in (0 = never in a digested era).</summary>
    public sealed record QueryEras(IActorRef ReplyTo, long RequestId, uint First, int Count) : IRequest;
    public sealed record Eras(long RequestId, uint[] Values);

    /// <summary>
    /// The same, as of the metadata snapshot held at <paramref name="HeldRoot"/> (a backup view's instant);
    /// the snapshot actor forwards it once it has checked the root is still the one held.
    /// </summary>
    public sealed record QueryHeldEras(IActorRef ReplyTo, long RequestId, long HeldRoot, uint First, int Count) : IRequest;

    /// <summary>Whether archived writesets still wait for the digest (tests and the admin console watch it drain).</summary>
    public sealed record GetDigestPending(IActorRef ReplyTo, long RequestId) : IRequest;
    public sealed record DigestPending(long RequestId, bool Pending);

    /// <summary>postsuspend: commit what is pending, archive the current writeset, drain the digest, commit, close.</summary>
    public sealed record Shutdown(IActorRef ReplyTo, long RequestId) : IRequest;
    /// <summary>The metadata is closed; <paramref name="Failure"/> is the final commit's error (or the one that failed the volume).</summary>
    public sealed record ShutdownComplete(long RequestId, Exception? Failure);

    /// <summary>Sent by the writer to itself: commit the batch collected so far.</summary>
    internal sealed class CommitNow
    {
        public static readonly CommitNow Instance = new();
        private CommitNow() { }
    }

    /// <summary>Sent by the writer to itself: the oldest logged mark may be due for a background commit.</summary>
    internal sealed class MarksDue
    {
        public static readonly MarksDue Instance = new();
        private MarksDue() { }
    }

    /// <summary>From the background commit thread: the metadata commit of logged marks finished (or failed).</summary>
    internal sealed record BackgroundCommitted(Exception? Failure);

    /// <param name="intentLog">The intent log device, or null to commit the metadata for every first-write batch.</param>
    public static Props Props(EngineSettings settings, MetadataDevice device, BlockGeometry geometry, VolumeCounters counters,
        MetadataDevice? intentLog = null) =>
        Akka.Actor.Props.Create(() => new MetadataWriterActor(settings, device, geometry, counters, intentLog))
            .WithDispatcher(settings.MetadataDispatcher);
}

/// <summary>Figures a benchmark, test or the admin console reads while the volume runs (written by the metadata writer only).</summary>
public sealed class VolumeCounters
{
    private readonly RecentMicros _commitMicros = new();
    private readonly RecentMicros _waitMicros = new();
    private long _commits, _firstWrites, _blocksMarked, _backgroundCommits, _backgroundCommitTicks;

    /// <summary>Commits that carried first-write bits.</summary>
    public long Commits => Interlocked.Read(ref _commits);
    /// <summary>Requests acknowledged by those commits.</summary>
    public long FirstWrites => Interlocked.Read(ref _firstWrites);
    public long BlocksMarked => Interlocked.Read(ref _blocksMarked);

    /// <summary>Metadata commits of intent-logged marks, run off the first-write path.</summary>
    public long BackgroundCommits => Interlocked.Read(ref _backgroundCommits);

    /// <summary>Their mean duration in microseconds (0 before the first).</summary>
    public double BackgroundCommitMeanMicros =>
        BackgroundCommits == 0 ? 0 : TimeSpan.FromTicks(Interlocked.Read(ref _backgroundCommitTicks)).TotalMicroseconds / BackgroundCommits;

    internal void AddBackgroundCommit(TimeSpan duration)
    {
        Interlocked.Add(ref _backgroundCommitTicks, duration.Ticks);
        Interlocked.Increment(ref _backgroundCommits);
    }

    /// <summary>
    /// The given percentiles (0..100) of the last 4096 first-write commits' durations in microseconds, from
    /// setting the bits to the second fdatasync returning; empty before the first commit.
    /// </summary>
    public double[] CommitMicrosPercentiles(params double[] percentiles) => _commitMicros.Percentiles(percentiles);

    /// <summary>
    /// The same of the last 4096 first writes' waits: from the router sending the first write to the writer
    /// releasing it once its mark is durable (the whole cost a first write pays over a write to a marked block).
    /// </summary>
    public double[] FirstWriteWaitMicrosPercentiles(params double[] percentiles) => _waitMicros.Percentiles(percentiles);

    internal void AddCommit(int firstWrites, int blocks, TimeSpan duration)
    {
        Interlocked.Increment(ref _commits);
        Interlocked.Add(ref _firstWrites, firstWrites);
        Interlocked.Add(ref _blocksMarked, blocks);
        _commitMicros.Add(duration.TotalMicroseconds);
    }

    internal void AddFirstWriteWaits(MetadataWriter.FirstWrite[] released)
    {
        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        foreach (var w in released) _waitMicros.Add(System.Diagnostics.Stopwatch.GetElapsedTime(w.SentAt, now).TotalMicroseconds);
    }

    /// <summary>Durations kept for percentiles: the recent past, not the whole life of the volume.</summary>
    private sealed class RecentMicros
    {
        private const int Kept = 4096;
        private readonly double[] _micros = new double[Kept];
        private int _count, _next;

        public void Add(double micros)
        {
            lock (_micros)
            {
                _micros[_next] = micros;
                _next = (_next + 1) % Kept;
                _count = Math.Min(_count + 1, Kept);
            }
        }

        public double[] Percentiles(double[] percentiles)
        {
            double[] sorted;
            lock (_micros)
            {
                if (_count == 0) return [];
                sorted = _micros[.._count];
            }
            Array.Sort(sorted);
            return percentiles.Select(p => sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)]).ToArray();
        }
    }
}
