using System.Diagnostics;
using DmEra.Metadata;
using DmEra.Metadata.Era;
using DmEra.Metadata.IntentLog;
using DmEra.Metadata.PersistentData;

namespace DmEra.Engine.Durability;

/// <summary>
/// First-write durability through the intent log (issue 18). A group commit appends its marks to the log
/// with one write and one flush (one pwritev2 RWF_DSYNC on the daemon's O_DIRECT log, whose flush is then
/// free): once that returns the marks are durable, the in-core bits may be set and
/// the writes released. The kernel-format metadata catches up in the background: the marks go into its
/// open transaction and one commit on <see cref="BackgroundCommitThread"/> makes a large batch durable,
/// after which the log's head moves past them. Called by the metadata writer only; while a background
/// commit runs the writer must not touch the metadata (<see cref="Settle"/> first).
/// </summary>
internal sealed class MarkLog : IDisposable
{
    private readonly EraMetadata _md;
    private readonly MetadataDevice _device;
    private readonly IntentLogWriter _log;
    private readonly EngineSettings _settings;
    private readonly BackgroundCommitThread _thread;
    private readonly Action<Exception?> _onBackgroundDone;
    private readonly VolumeCountersSink _counters;
    private List<uint> _unapplied = new();   // logged, not yet in the metadata's transaction
    private int _uncommitted;                 // logged since the last commit that covers the log
    private long _oldestUncommitted;
    private volatile Exception? _backgroundFailure;
    private bool _disposed;

    private MarkLog(EraMetadata md, MetadataDevice device, IntentLogWriter log, EngineSettings settings, string name,
        Action<Exception?> onBackgroundDone, VolumeCountersSink counters)
    {
        _md = md;
        _device = device;
        _log = log;
        _settings = settings;
        _onBackgroundDone = onBackgroundDone;
        _counters = counters;
        _thread = new BackgroundCommitThread(name);
    }

    /// <summary>
    /// Activation, before anything else changes the metadata: the marks the log holds go into the current
    /// writeset (durable with the activation's commits). Returns what was done and the next sequence number.
    /// </summary>
    public static (IntentLogReplayResult Result, ulong NextSeq) Replay(EraMetadata md, MetadataDevice device)
    {
        var scan = IntentLogScan.Read(device);
        return (IntentLogReplay.Apply(md, scan), scan.NextSeq);
    }

    /// <summary>Activation, after its commits hold every replayed mark: empties the log and starts appending.</summary>
    public static MarkLog Start(EraMetadata md, MetadataDevice device, ulong nextSeq, EngineSettings settings, string name,
        Action<Exception?> onBackgroundDone, VolumeCountersSink counters) =>
        new(md, device, IntentLogWriter.Reset(device, md.TrackingId, nextSeq), settings, name, onBackgroundDone, counters);

    /// <summary>Marks were logged that no metadata commit has covered yet.</summary>
    public bool HasUncommitted => _uncommitted > 0;

    public bool Busy => _thread.Busy;

    /// <summary>Whether a background commit should start now: enough marks wait, the oldest has waited long enough, or the log is half full.</summary>
    public bool Due => _uncommitted > 0 && !_thread.Busy
        && (_uncommitted >= _settings.IntentLogCommitMarks
            || Stopwatch.GetElapsedTime(_oldestUncommitted) >= _settings.IntentLogCommitInterval
            || _log.Fill >= 0.5);

    /// <summary>
    /// Makes the marks of <paramref name="era"/> durable: one log append and its flush. A full log first
    /// commits the metadata here (waiting for a background commit in flight), so the head can move. A batch
    /// that not even an empty log could hold (a log near its minimum size) is made durable by a metadata
    /// commit of its own instead: slower, never a failed volume.
    /// </summary>
    public void Append(uint era, uint[] sortedBlocks)
    {
        if (!_log.HasRoomFor(sortedBlocks.Length))
        {
            if (!_log.CouldEverHold(sortedBlocks.Length))
            {
                _unapplied.AddRange(sortedBlocks);
                CommitNow();
                return;
            }
            CommitNow();
        }
        _log.Append(era, sortedBlocks);
        if (_uncommitted == 0) _oldestUncommitted = Stopwatch.GetTimestamp();
        _uncommitted += sortedBlocks.Length;
        _unapplied.AddRange(sortedBlocks);
    }

    /// <summary>Starts a background commit of every logged mark. The metadata must be idle (not <see cref="Busy"/>).</summary>
    public void StartBackgroundCommit()
    {
        ApplyToMetadata();
        var covered = _log.LastSeq;
        _uncommitted = 0;
        _thread.Run(() =>
        {
            Exception? error = null;
            var started = Stopwatch.GetTimestamp();
            try
            {
                _md.Commit();
                _log.AdvanceHead(covered + 1);
                _counters(Stopwatch.GetElapsedTime(started));
            }
            catch (Exception e)
            {
                error = e;
                _backgroundFailure = e;
            }
            _onBackgroundDone(error);
        });
    }

    /// <summary>
    /// Before the writer touches the metadata: waits for a background commit in flight, then puts the marks
    /// logged since into the open transaction (durable with the next commit, whoever makes it). Returns the
    /// background commit's failure, if it failed (the metadata is then not to be used).
    /// </summary>
    public Exception? Settle()
    {
        _thread.Wait();
        if (_backgroundFailure is { } failure) return failure;
        ApplyToMetadata();
        return null;
    }

    /// <summary>Commits every logged mark now, on the caller's thread, and frees the log.</summary>
    public void CommitNow()
    {
        if (Settle() is { } failure) throw new MetadataException($"the last metadata commit failed: {failure.Message}", failure);
        _md.Commit();
        _uncommitted = 0;
        _log.AdvanceHead(_log.LastSeq + 1);
    }

    /// <summary>After a commit of the writer's own that followed <see cref="Settle"/>: every logged mark is in the metadata, so the log is freed.</summary>
    public void Committed()
    {
        if (_unapplied.Count > 0 || _thread.Busy) return;
        _uncommitted = 0;
        _log.AdvanceHead(_log.LastSeq + 1);
    }

    private void ApplyToMetadata()
    {
        if (_unapplied.Count == 0) return;
        var marks = _unapplied.ToArray();
        _unapplied = new List<uint>();
        Array.Sort(marks);
        _md.MarkBlocks(marks);
    }

    /// <summary>Waits for a background commit in flight; writes nothing more. The metadata's owner closes the devices.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _thread.Dispose();
        _device.Dispose();
    }
}

/// <summary>Where a background commit's duration is counted.</summary>
internal delegate void VolumeCountersSink(TimeSpan duration);
