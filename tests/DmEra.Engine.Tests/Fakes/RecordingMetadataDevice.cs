using DmEra.Metadata.PersistentData;
using DmEra.Storage.Devices;

namespace DmEra.Engine.Tests.Fakes;

/// <summary>
/// The shared recording device (<see cref="DmEra.Testing.RecordingBlockDevice"/>) as the engine specs
/// read it: each flush makes everything written so far durable and keeps that durable image as a new
/// version; every operation goes to the shared <see cref="OperationLog"/> with the durable version of its
/// instant, which the ordering oracle compares with the origin's writes.
/// </summary>
public sealed class RecordingMetadataDevice : DmEra.Testing.RecordingBlockDevice
{
    private readonly OperationLog _log;
    private readonly List<byte[]?[]> _durableVersions = new();

    public RecordingMetadataDevice(long blockCount, OperationLog? log = null, byte[]?[]? initial = null)
        : this(log ?? new OperationLog(), blockCount, initial) { }

    private RecordingMetadataDevice(OperationLog log, long blockCount, byte[]?[]? initial) : base(log.Gate, blockCount, initial)
    {
        _log = log;
        _durableVersions.Add(Image());
    }

    public OperationLog Log => _log;

    /// <summary>Throws an injected EIO for a write to a block this returns true for.</summary>
    public Func<long, bool>? FailWrite { get => Faults.FailWrite; set => Faults.FailWrite = value; }
    public bool FailFlush { get => Faults.FailFlush; set => Faults.FailFlush = value; }

    /// <summary>When set, each flush waits for this gate first (a commit held "in flight").</summary>
    public SemaphoreSlim? FlushGate { get => Faults.FlushGate; set => Faults.FlushGate = value; }
    public int FlushesStarted => Faults.FlushesStarted;

    /// <summary>The version index of the durable image (0 = the initial contents).</summary>
    public int DurableVersion
    {
        get { lock (Gate) return _durableVersions.Count - 1; }
    }

    protected override void Recorded(long block, byte[] data) =>
        _log.Add(OperationKind.MetadataWrite, block, 1, _durableVersions.Count - 1);

    protected override void Flushed(long first, long count)
    {
        _durableVersions.Add((byte[]?[])LiveBlocks.Clone());
        _log.Add(OperationKind.MetadataFlush, 0, 0, _durableVersions.Count - 1);
    }

    /// <summary>The durable image of a version, as a device a second system can open.</summary>
    public MetadataDevice ImageOf(int version)
    {
        lock (Gate) return new MetadataDevice(new MemoryDevice(_durableVersions[version]));
    }

    /// <summary>What a power cut now would leave: only flushed writes.</summary>
    public MetadataDevice CrashImage() => ImageOf(DurableVersion);

    /// <summary>A new recording device holding the crash image (system two's view of the same disk).</summary>
    public RecordingMetadataDevice AfterCrash()
    {
        lock (Gate) return new RecordingMetadataDevice(BlockCount, null, _durableVersions[^1]);
    }
}
