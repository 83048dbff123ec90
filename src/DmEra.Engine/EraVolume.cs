using Akka;
using Akka.Actor;
using Akka.Event;
using DmEra.Engine.Actors;
using DmEra.Engine.Origin;
using DmEra.Storage.Devices;
using DmEra.Engine.Tracking;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;

namespace DmEra.Engine;

/// <summary>
/// The volume facade: the request path runs in the caller's async flow (<see cref="IoRouter"/>), admin and
/// metadata queries are asked of the volume's actors with their one reply convention
/// (<see cref="Requests.AskFor{T}"/>: a reply-to and a request id, a failure as <see cref="Failed"/>).
/// </summary>
public sealed class EraVolume : IEraVolume
{
    private readonly EngineSettings _settings;
    private readonly IBlockDevice _origin;
    private readonly OriginSyncLatch _latch;
    private readonly Volume.Started _started;
    private readonly IoRouter _router;
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle? _originFile;   // null: the origin is not a file
    private readonly object _stopLock = new();
    private Task? _stopTask;
    private volatile bool _stopped;

    private EraVolume(string name, EngineSettings settings, IBlockDevice origin, IActorRef volumeActor,
        Volume.Started started, BlockGeometry geometry, VolumeCounters counters, WriteGate gate, Akka.Event.ILoggingAdapter log)
    {
        Name = name;
        _settings = settings;
        VolumeActor = volumeActor;
        _started = started;
        Counters = counters;
        _latch = new OriginSyncLatch(name, origin);
        _originFile = (origin as FileDevice)?.Handle;
        _origin = _latch;
        _router = new IoRouter(name, geometry, _latch, started.Tracker, started.Writer, settings.MaxPendingFirstWrites, started.Views, gate,
            settings.WriteBackBytes,
            e => log.Error(e, "volume {0}: a write answered before it reached the origin failed there ({1}); the next FLUSH fails", name, e.Message));
    }

    /// <summary>
    /// Activates a volume (the kernel's ctr + preresume): opens the metadata (formatting it if block 0 is
    /// zero), refuses a block size other than the one on disk, resizes to the origin's current size (refusing
    /// ≥ 2^31 blocks), archives a writeset a crash left, and starts a new era. The volume owns both devices
    /// from here on and disposes them at stop, or at once if activation fails.
    /// </summary>
    public static Task<EraVolume> StartAsync(ActorSystem system, string name, MetadataDevice metadata,
        IBlockDevice origin, uint blockSizeSectors, CancellationToken cancellationToken = default) =>
        StartAsync(system, name, metadata, origin, blockSizeSectors, intentLog: null, cancellationToken);

    /// <summary>
    /// The same with an intent log (issue 18): first-write batches are made durable by one append to
    /// <paramref name="intentLog"/> and the metadata is committed in the background; activation first replays
    /// the marks the log holds. The volume owns the log device as well. Null: every batch commits the metadata.
    /// </summary>
    public static async Task<EraVolume> StartAsync(ActorSystem system, string name, MetadataDevice metadata,
        IBlockDevice origin, uint blockSizeSectors, MetadataDevice? intentLog, CancellationToken cancellationToken = default)
    {
        var settings = EngineSettings.Create(system);
        try
        {
            EraMetadata.ValidateBlockSize(blockSizeSectors);
        }
        catch
        {
            metadata.Dispose();
            intentLog?.Dispose();
            origin.Dispose();
            throw;
        }
        var geometry = new BlockGeometry(blockSizeSectors, origin.SizeBytes);
        var counters = new VolumeCounters();
        var gate = new WriteGate(name);
        var volume = system.ActorOf(Volume.Props(settings, metadata, geometry, counters, gate, intentLog), ActorName(name));
        var started = volume.AskFor<Volume.Started>((replyTo, id) => new Volume.Start(replyTo, id));
        try
        {
            var s = await started.WaitAsync(settings.ActivationTimeout, cancellationToken).ConfigureAwait(false);
            var era = new EraVolume(name, settings, origin, volume, s, geometry, counters, gate, system.Log);
            // A host shutting the actor system down (SIGTERM through the generic host) gets the clean
            // postsuspend, not a crash. StopAsync is idempotent, so a volume stopped earlier costs nothing.
            // The phase's timeout (akka.coordinated-shutdown.phases.service-stop.timeout, 130 s in akka.hocon)
            // covers dmera.engine.stop-timeout; where a host sets it shorter, the stop is cut short, which the
            // metadata survives like a crash (the next start archives the committed writeset).
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceStop, $"stop-era-volume-{volume.Path.Name}",
                async () =>
                {
                    // A stop someone already asked for (dmera serve's) is theirs to report.
                    if (era.StopRequested) return Done.Instance;
                    try { await era.StopAsync().ConfigureAwait(false); }
                    catch (Exception e) { system.Log.Error(e, "volume {0}: stop at shutdown failed", name); }
                    return Done.Instance;
                });
            return era;
        }
        catch
        {
            system.Stop(volume);
            origin.Dispose();
            throw;
        }
    }

    public string Name { get; }
    public long SizeBytes => _router.Geometry.OriginBytes;
    public uint BlockSizeSectors => _router.Geometry.BlockSizeSectors;
    public long BlockSizeBytes => _router.Geometry.BlockBytes;
    public uint NrBlocks => (uint)_router.Geometry.NrBlocks;
    public uint CurrentEra => _started.Tracker.CurrentEra;
    /// <summary>The tracking history's identity, 32 lowercase hex digits (the superblock uuid).</summary>
    public string TrackingId => Convert.ToHexStringLower(_started.Tracker.TrackingId);
    public VolumeCounters Counters { get; }

    /// <summary>Why the volume is in <see cref="VolumeState.Failed"/> (the metadata error), or null.</summary>
    public string? FailureReason => _started.Tracker.Failure?.Message;

    /// <summary>Why every flush fails since an origin fdatasync failed (until a restart), or null.</summary>
    public string? OriginSyncFailure => _latch.Failure;

    /// <summary>The root of this volume's actor tree (tests stop it to simulate a crash).</summary>
    internal IActorRef VolumeActor { get; }

    public VolumeState State =>
        _stopped ? VolumeState.Stopped
        : _router.IsStopping ? VolumeState.Stopping
        : _started.Tracker.Failure is not null ? VolumeState.Failed
        : VolumeState.Running;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer) => _router.ReadAsync(offset, buffer);
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua = false) => _router.WriteAsync(offset, data, fua);
    public ValueTask TrimAsync(long offset, long length, bool fua = false) => _router.TrimAsync(offset, length, fua);
    public ValueTask WriteZeroesAsync(long offset, long length, bool fua = false) => _router.WriteZeroesAsync(offset, length, fua);
    public ValueTask FlushAsync() => _router.FlushAsync();

    public Task OnOriginAsync(long offset, long length) => _router.OnOrigin(offset, length);

    /// <summary>
    /// The range as it is in the origin file, leased for sending from the file itself (sendfile), or null when
    /// the origin is not a file or an answered write not yet on the origin overlaps the range (then read it
    /// with <see cref="ReadAsync"/>). The lease holds the volume's gate, which a stop waits for: dispose it.
    /// </summary>
    public OriginFileRange? TryLeaseOriginRange(long offset, long length) =>
        _originFile is null ? null : _router.TryLeaseOrigin(_originFile, offset, length);

    /// <summary>The era manager holds the gate (it owns the write hold of group checkpoints).</summary>
    public Task HoldWritesAsync(CancellationToken cancellationToken) =>
        _started.EraManager.AskFor<EraManager.WritesHeld>((replyTo, id) => new EraManager.HoldWrites(replyTo, id), cancellationToken);

    public void ReleaseWrites() => _started.EraManager.Tell(EraManager.ReleaseWrites.Instance);

    /// <summary>Writes answered before the query are marked first: a client sees its own writes in the eras.</summary>
    public async Task<uint[]> GetBlockErasAsync(uint firstBlock, int count)
    {
        await _router.PendingWritten().ConfigureAwait(false);
        return (await _started.Writer.AskFor<MetadataWriter.Eras>((replyTo, id) => new MetadataWriter.QueryEras(replyTo, id, firstBlock, count)).ConfigureAwait(false)).Values;
    }

    /// <summary>Whether archived writesets still wait to be digested into the era array.</summary>
    public async Task<bool> HasDigestWorkAsync() =>
        (await _started.Writer.AskFor<MetadataWriter.DigestPending>((replyTo, id) => new MetadataWriter.GetDigestPending(replyTo, id)).ConfigureAwait(false)).Pending;

    public async Task<bool[]> GetWrittenSinceAsync(uint era, uint firstBlock, int count)
    {
        var eras = await GetBlockErasAsync(firstBlock, count).ConfigureAwait(false);
        return Array.ConvertAll(eras, e => e >= era);
    }

    /// <summary>Writes answered before the checkpoint reach the origin first, so their marks fall in the era that ends.</summary>
    public async Task<uint> CheckpointAsync()
    {
        await _router.PendingWritten().ConfigureAwait(false);
        return (await _started.EraManager.AskFor<EraManager.CheckpointDone>((replyTo, id) => new EraManager.Checkpoint(replyTo, id)).ConfigureAwait(false)).Era;
    }

    /// <summary>Writes answered before it are committed first: the snapshot's marks cover every one of them.</summary>
    public async Task<long> TakeMetadataSnapAsync()
    {
        await _router.PendingWritten().ConfigureAwait(false);
        return (await _started.Snapshots.AskFor<MetadataSnapshot.Taken>((replyTo, id) => new MetadataSnapshot.Take(replyTo, id)).ConfigureAwait(false)).HeldRoot;
    }

    public Task DropMetadataSnapAsync() =>
        _started.Snapshots.AskFor<MetadataSnapshot.Dropped>((replyTo, id) => new MetadataSnapshot.Drop(replyTo, id));

    public Backup.BackupView? BackupView => _started.Views.Current;

    public Task<Backup.BackupView> TakeBackupSnapAsync(uint? sinceEra, string storePath, long limitBytes, Action<string>? onBroken = null)
    {
        var current = CurrentEra;
        if (sinceEra > current)
            throw new EraMessageException($"since era {sinceEra} is after the current era {current}");
        if (limitBytes <= 0) throw new ArgumentOutOfRangeException(nameof(limitBytes), "the saved-copy limit must be positive");
        var file = Backup.SavedCopyFile.Create(storePath);
        var pacer = new Backup.ViewReadPacer(_settings.ViewReadShare, () => _router.Gate.IsBusy(Backup.ViewReadPacer.BusyWithinMs));
        var view = new Backup.BackupView(_router.Geometry, _origin.ReadAsync, file, limitBytes, sinceEra, onBroken, pacer);
        return TakeBackupCoreAsync(view);
    }

    private async Task<Backup.BackupView> TakeBackupCoreAsync(Backup.BackupView view) =>
        (await _started.Snapshots.AskFor<BackupSnapshot.ViewTaken>((replyTo, id) => new BackupSnapshot.Take(replyTo, id, view)).ConfigureAwait(false)).View;

    public Task DropBackupSnapAsync() =>
        _started.Snapshots.AskFor<BackupSnapshot.ViewDropped>((replyTo, id) => new BackupSnapshot.Drop(replyTo, id));

    public async Task<uint[]> GetViewErasAsync(Backup.BackupView view, uint firstBlock, int count) =>
        (await _started.Snapshots.AskFor<MetadataWriter.Eras>((replyTo, id) => new MetadataSnapshot.QueryHeldEras(replyTo, id, view.HeldRoot, firstBlock, count))
            .ConfigureAwait(false)).Values;

    /// <summary>
    /// After a start: a saved-copy file at <paramref name="storePath"/> means the volume stopped or crashed
    /// with a view held. The view is gone (its saved copies only lived for the process); the metadata snapshot
    /// its header names is dropped if it is still held, and the file is removed. Returns what was done, or null.
    /// </summary>
    public async Task<string?> DiscardStaleBackupViewAsync(string storePath)
    {
        if (Backup.SavedCopyFile.ReadHeldRoot(storePath) is not { } root) return null;
        var fields = (await StatusAsync().ConfigureAwait(false)).Split(' ');
        var held = fields.Length == 4 && long.TryParse(fields[3], out var h) ? h : 0;
        var dropped = root != 0 && root == held;
        if (dropped) await DropMetadataSnapAsync().ConfigureAwait(false);
        File.Delete(storePath);
        return dropped
            ? $"a backup view was held when the volume last stopped: it is gone; dropped its metadata snapshot (held root {root}) and removed {storePath}"
            : $"removed a stale saved-copy file {storePath} (its view is gone{(held != 0 ? $"; held root {held} is not the view's and stays" : "")})";
    }

    public async Task<string> StatusAsync() =>
        (await _started.Writer.AskFor<MetadataWriter.StatusLine>((replyTo, id) => new MetadataWriter.GetStatus(replyTo, id)).ConfigureAwait(false)).Line;

    /// <summary>era_message: exactly one argument, compared case-insensitively (strcasecmp).</summary>
    public async Task SendMessageAsync(string message)
    {
        var args = (message ?? "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (args.Length != 1) throw new EraMessageException("incorrect number of message arguments");
        switch (args[0].ToLowerInvariant())
        {
            case "checkpoint": await CheckpointAsync().ConfigureAwait(false); break;
            case "take_metadata_snap": await TakeMetadataSnapAsync().ConfigureAwait(false); break;
            case "drop_metadata_snap": await DropMetadataSnapAsync().ConfigureAwait(false); break;
            default: throw new EraMessageException($"unsupported message '{args[0]}'");
        }
    }

    private bool StopRequested
    {
        get { lock (_stopLock) return _stopTask is not null; }
    }

    public Task StopAsync()
    {
        lock (_stopLock) return _stopTask ??= StopCoreAsync();
    }

    private async Task StopCoreAsync()
    {
        try
        {
            // One deadline for the whole stop, so dmera.engine.stop-timeout bounds it as akka.hocon promises
            // (the host's shutdown-timeout is set above it).
            var deadline = DateTime.UtcNow + _settings.StopTimeout;
            await _router.StopAndDrainAsync().WaitAsync(_settings.StopTimeout).ConfigureAwait(false);
            var wasFailed = _started.Tracker.Failure is not null;
            var closed = VolumeActor.AskFor<Volume.Stopped>((replyTo, id) => new Volume.Stop(replyTo, id));
            var left = deadline - DateTime.UtcNow;
            var failure = (await closed.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero).ConfigureAwait(false)).Failure;
            if (!wasFailed) await _origin.FlushAsync().ConfigureAwait(false);
            if (failure is not null && !wasFailed)
                throw new VolumeFailedException($"volume {Name}: the final metadata commit failed: {failure.Message}", failure);
        }
        finally
        {
            _origin.Dispose();
            _stopped = true;
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    /// <summary>Actor names allow a limited alphabet; the volume name is kept readable where it can be.</summary>
    private static string ActorName(string name) =>
        "volume-" + string.Concat(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_')) + "-" + Guid.NewGuid().ToString("N")[..8];
}
