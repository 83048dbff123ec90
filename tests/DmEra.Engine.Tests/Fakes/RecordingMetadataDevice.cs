using DmEra.Metadata;
using DmEra.Metadata.PersistentData;
using DmEra.Testing;

namespace DmEra.Engine.Tests.Fakes;

/// <summary>
/// A metadata device that models what a crash keeps: writes are volatile until <see cref="Flush"/>, which
/// makes everything written so far durable and records that durable image as a new version. Every
/// operation goes to the shared <see cref="OperationLog"/>. Faults can be injected per write or flush, and a
/// gate can hold a flush (to hold a commit in flight). Dispose does nothing: the images outlive the volume.
/// </summary>
public sealed class RecordingMetadataDevice : IMetadataDevice
{
    private readonly OperationLog _log;
    private readonly Dictionary<long, byte[]> _volatile = new();
    private readonly List<Dictionary<long, byte[]>> _durableVersions = new();

    public RecordingMetadataDevice(long blockCount, OperationLog? log = null, IReadOnlyDictionary<long, byte[]>? initial = null)
    {
        BlockCount = blockCount;
        _log = log ?? new OperationLog();
        if (initial is not null)
            foreach (var (k, v) in initial) _volatile[k] = v;
        _durableVersions.Add(new Dictionary<long, byte[]>(_volatile));
    }

    public long BlockCount { get; }
    public bool IsReadOnly => false;
    public OperationLog Log => _log;

    /// <summary>The injected faults (shared with the crash suite's devices).</summary>
    public DeviceFaults Faults { get; } = new();

    /// <summary>Throws an injected EIO for a write to a block this returns true for.</summary>
    public Func<long, bool>? FailWrite { get => Faults.FailWrite; set => Faults.FailWrite = value; }
    public bool FailFlush { get => Faults.FailFlush; set => Faults.FailFlush = value; }

    /// <summary>When set, each flush waits for this gate first (a commit held "in flight").</summary>
    public SemaphoreSlim? FlushGate { get => Faults.FlushGate; set => Faults.FlushGate = value; }
    public int FlushesStarted => Faults.FlushesStarted;

    /// <summary>The version index of the durable image (0 = the initial contents).</summary>
    public int DurableVersion
    {
        get { lock (_log.Gate) return _durableVersions.Count - 1; }
    }

    public void Read(long block, Span<byte> buffer)
    {
        lock (_log.Gate)
        {
            if (_volatile.TryGetValue(block, out var data)) data.CopyTo(buffer);
            else buffer[..MetadataBlock.Size].Clear();
        }
    }

    public void Write(long block, ReadOnlySpan<byte> buffer)
    {
        if (block < 0 || block >= BlockCount) throw new MetadataException($"block {block} beyond the device");
        Faults.BeforeWrite(block, "metadata block");
        lock (_log.Gate)
        {
            _volatile[block] = buffer[..MetadataBlock.Size].ToArray();
            _log.Add(OperationKind.MetadataWrite, block, 1, _durableVersions.Count - 1);
        }
    }

    public void Flush()
    {
        if (!Faults.BeforeFlush("metadata")) return;
        lock (_log.Gate)
        {
            _durableVersions.Add(new Dictionary<long, byte[]>(_volatile));
            _log.Add(OperationKind.MetadataFlush, 0, 0, _durableVersions.Count - 1);
        }
    }

    /// <summary>The durable image of a version, as a device a second system can open.</summary>
    public MemoryMetadataDevice ImageOf(int version)
    {
        lock (_log.Gate)
        {
            var device = new MemoryMetadataDevice(BlockCount);
            foreach (var (k, v) in _durableVersions[version]) device.Write(k, v);
            return device;
        }
    }

    /// <summary>What a power cut now would leave: only flushed writes.</summary>
    public MemoryMetadataDevice CrashImage() => ImageOf(DurableVersion);

    /// <summary>A new recording device holding the crash image (system two's view of the same disk).</summary>
    public RecordingMetadataDevice AfterCrash()
    {
        lock (_log.Gate) return new RecordingMetadataDevice(BlockCount, null, _durableVersions[^1]);
    }

    public void Dispose() { }
}
