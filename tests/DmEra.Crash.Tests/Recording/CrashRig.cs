using Akka.Actor;
using DmEra.Crash.Tests.Devices;
using DmEra.Crash.Tests.Live;
using DmEra.Crash.Tests.Trace;
using DmEra.Engine;
using DmEra.Testing;

namespace DmEra.Crash.Tests.Recording;

/// <summary>Geometry and randomness of one recorded workload.</summary>
public sealed record RigOptions(
    long OriginBytes = 16 * 4096,
    long MetadataBlocks = 64,
    uint BlockSizeSectors = 8,
    int Seed = 1,
    bool Latency = false,
    long OriginCapacity = 0,
    byte[]?[]? InitialMetadata = null,
    HarnessFault Fault = HarnessFault.None,
    long LogBlocks = 8)
{
    /// <summary>The recorded image: the metadata's blocks, then the intent log's (8 blocks by default: small, so records go round the circle and a full log forces a commit).</summary>
    public long ImageBlocks => MetadataBlocks + LogBlocks;

    public byte[]?[] InitialImage() => InitialMetadata is null
        ? new byte[ImageBlocks][]
        : [.. InitialMetadata, .. new byte[]?[LogBlocks]];
}

/// <summary>Faults planted in the recording to prove the oracles catch what they claim to (harness self-tests only).</summary>
public enum HarnessFault
{
    None,
    /// <summary>Metadata flushes are not recorded: nothing the engine commits is ever durable.</summary>
    MetadataFlushIsALie,
    /// <summary>Origin flushes are not recorded: FLUSH and FUA promise durability the disk never gave.</summary>
    OriginFlushIsALie,
    /// <summary>
    /// Kernel bug 2099b145 re-created: the in-core bit of a block is set before its commit, so the write
    /// takes the fast path and reaches the origin with nothing durable behind it.
    /// </summary>
    InCoreBitBeforeCommit,
    /// <summary>Every fourth metadata write (superblock aside) lands on a live block instead (a misdirected write, TigerBeetle's fault model).</summary>
    MisdirectedMetadataWrite,
}

/// <summary>
/// Drives one workload through the real actors (<see cref="EraVolume"/>) on recording devices, logging
/// each client request and reply and each era the client is told has begun. Payloads are seeded random
/// bytes, so every write changes the content it covers (the content-diff oracle depends on it).
/// <see cref="Freeze"/> ends the recording before anything is torn down: a shutdown's final commit must not
/// look like something a crash kept.
/// </summary>
public sealed class CrashRig : IAsyncDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);
    private readonly ActorSystem _system;
    private readonly string _name;
    private readonly RigOptions _options;
    private readonly Random _payloads;
    private readonly Random _latency;
    private readonly byte[] _initialOrigin;
    private EraVolume? _volume;
    private uint _ackedEra;

    public CrashRig(ActorSystem system, string name, RigOptions options)
    {
        _system = system;
        _name = name;
        _options = options;
        _payloads = new Random(options.Seed);
        _latency = new Random(options.Seed ^ 0x5eed);
        var capacity = Math.Max(options.OriginCapacity, options.OriginBytes);
        _initialOrigin = new byte[capacity];
        new Random(options.Seed ^ 0x0419).NextBytes(_initialOrigin);   // not zero: a zeroing must show
        Live = new LiveInvariants(options.MetadataBlocks) { BlockBytes = options.BlockSizeSectors * 512L };
        Func<int>? originLatency = options.Latency ? () => { lock (_latency) return _latency.Next(4) - 1; } : null;
        Func<int>? flushDelay = options.Latency ? () => { lock (_latency) return _latency.Next(8) == 0 ? 1 : 0; } : null;
        Metadata = new RecordingMetadataDevice(Trace, options.ImageBlocks, Live, options.InitialImage(), options.LogBlocks)
        {
            Faults = new DeviceFaults { FlushDelayMs = flushDelay, FlushIsALie = options.Fault == HarnessFault.MetadataFlushIsALie },
            Misdirect = options.Fault == HarnessFault.MisdirectedMetadataWrite,
        };
        Origin = new RecordingOriginDevice(Trace, _initialOrigin, options.OriginBytes, Live, originLatency)
            { Faults = new DeviceFaults { FlushIsALie = options.Fault == HarnessFault.OriginFlushIsALie } };
    }

    public IoTrace Trace { get; } = new();
    public LiveInvariants Live { get; }
    public RecordingMetadataDevice Metadata { get; }
    public RecordingOriginDevice Origin { get; }
    public EraVolume Volume => _volume ?? throw new InvalidOperationException("no volume is running");
    public uint AckedEra => Volatile.Read(ref _ackedEra);

    /// <summary>Activation (format, resize, recovery, new era), as the daemon's start.</summary>
    public Task<bool> StartAsync() =>
        Admin("activate", async () =>
        {
            var (metadata, log) = HarnessLayout.Split(Metadata, _options.LogBlocks);
            _volume = await EraVolume.StartAsync(_system, _name, metadata, Origin, _options.BlockSizeSectors, log).WaitAsync(Limit);
            Live.Watch(_volume);
            return _volume.CurrentEra;
        });

    public async Task StopAsync()
    {
        if (_volume is null) return;
        await Admin("stop", async () =>
        {
            Live.Watch(null);
            await _volume.StopAsync().WaitAsync(Limit);
            _volume = null;
            return 0u;
        });
    }

    public async Task ReopenAsync()
    {
        await StopAsync();
        await StartAsync();
    }

    /// <summary>The origin changes size between a stop and the next activation (the kernel resizes in preresume).</summary>
    public async Task ResizeAsync(long originBytes)
    {
        await StopAsync();
        Origin.Resize(originBytes);
        await StartAsync();
    }

    public byte[] Payload(int length)
    {
        var data = new byte[length];
        lock (_payloads) _payloads.NextBytes(data);
        return data;
    }

    public Task<bool> WriteAsync(long offset, int length, bool fua = false) =>
        Request(OriginOp.Write, offset, length, fua, () =>
        {
            if (_options.Fault == HarnessFault.InCoreBitBeforeCommit) InCoreFault.MarkEarly(Volume, offset, length);
            return Volume.WriteAsync(offset, Payload(length), fua);
        });

    public Task<bool> TrimAsync(long offset, long length, bool fua = false) =>
        Request(OriginOp.Trim, offset, length, fua, () => Volume.TrimAsync(offset, length, fua));

    public Task<bool> WriteZeroesAsync(long offset, long length, bool fua = false) =>
        Request(OriginOp.WriteZeroes, offset, length, fua, () => Volume.WriteZeroesAsync(offset, length, fua));

    public Task<bool> FlushAsync() => Request(OriginOp.Flush, 0, 0, false, () => Volume.FlushAsync());

    public Task<bool> CheckpointAsync() => Admin("checkpoint", () => Volume.CheckpointAsync());

    public Task<bool> TakeMetadataSnapAsync() => Admin("take_metadata_snap", async () =>
    {
        await Volume.TakeMetadataSnapAsync();
        return Volume.CurrentEra;
    });

    public Task<bool> DropMetadataSnapAsync() => Admin("drop_metadata_snap", async () =>
    {
        await Volume.DropMetadataSnapAsync();
        return 0u;
    });

    /// <summary>take_backup_snap (the caller has let no request in flight, as the daemon's write hold does).</summary>
    public async Task<DmEra.Engine.Backup.BackupView?> TakeBackupSnapAsync(string storePath, uint? since = null)
    {
        DmEra.Engine.Backup.BackupView? view = null;
        await Admin("take_backup_snap", async () =>
        {
            view = await Volume.TakeBackupSnapAsync(since, storePath, Origin.SizeBytes);
            return Volume.CurrentEra;
        });
        return view;
    }

    public Task<bool> DropBackupSnapAsync() => Admin("drop_backup_snap", async () =>
    {
        await Volume.DropBackupSnapAsync();
        return 0u;
    });

    /// <summary>A data request: issued with the era the client knows, replied ok or error (an error is an outcome, not a test failure).</summary>
    private async Task<bool> Request(OriginOp op, long offset, long length, bool fua, Func<ValueTask> call)
    {
        var id = Trace.NewId();
        var era = AckedEra;
        Trace.Add(seq => new TraceEvent(seq, EventKind.RequestIssued) { Id = id, Op = op, Offset = offset, Length = length, Fua = fua, Era = era });
        var ok = true;
        string? error = null;
        var outer = RequestContext.Current;
        RequestContext.Current = new RequestContext(id, era);
        try { await call().AsTask().WaitAsync(Limit); }
        catch (Exception e) when (e is not TimeoutException) { ok = false; error = e.GetType().Name + ": " + e.Message; }
        finally { RequestContext.Current = outer; }
        Trace.Add(seq => new TraceEvent(seq, EventKind.RequestReplied) { Id = id, Op = op, Ok = ok, Note = error });
        return ok;
    }

    /// <summary>An admin request; a new era it returns (non-zero) is acknowledged to the client.</summary>
    private async Task<bool> Admin(string what, Func<Task<uint>> call)
    {
        var id = Trace.NewId();
        Trace.Add(seq => new TraceEvent(seq, EventKind.RequestIssued) { Id = id, Op = OriginOp.Admin, Era = AckedEra, Note = what });
        uint era;
        try { era = await call().WaitAsync(Limit); }
        catch (Exception e) when (e is not TimeoutException)
        {
            Trace.Add(seq => new TraceEvent(seq, EventKind.RequestReplied) { Id = id, Op = OriginOp.Admin, Ok = false, Note = $"{what}: {e.Message}" });
            return false;
        }
        Trace.Add(seq => new TraceEvent(seq, EventKind.RequestReplied) { Id = id, Op = OriginOp.Admin, Ok = true, Note = what });
        if (era > 0)
        {
            lock (Trace.Gate)
            {
                if (era > _ackedEra) _ackedEra = era;
                Trace.Add(seq => new TraceEvent(seq, EventKind.EraAcknowledged) { Era = era, Note = what });
            }
        }
        return true;
    }

    /// <summary>Ends the recording: the devices keep serving the actors but record nothing more.</summary>
    public RecordedWorkload Freeze()
    {
        Trace.Freeze();
        return new RecordedWorkload(_name, _options.Seed, Trace.Events, _initialOrigin, _options.OriginBytes,
            _options.InitialImage(), _options.BlockSizeSectors, Live.Violations, Live.Checks) { LogBlocks = _options.LogBlocks };
    }

    /// <summary>Freeze first (if the test has not), then let the volume shut down.</summary>
    public async ValueTask DisposeAsync()
    {
        Trace.Freeze();
        Live.Watch(null);
        if (_volume is null) return;
        try { await _volume.StopAsync().WaitAsync(Limit); }
        catch (Exception) { /* a failed volume's stop reports its failure; the recording is what matters */ }
        _volume = null;
    }
}
