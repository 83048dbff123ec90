using DmEra.Crash.Tests.Live;
using DmEra.Crash.Tests.Trace;

namespace DmEra.Crash.Tests.Devices;

/// <summary>
/// The shared recording device (<see cref="DmEra.Testing.RecordingBlockDevice"/>) as the crash suite
/// records it: every write (with its 4 KiB payload) and flush appended to the global trace, and the live
/// invariants checked at each. After the trace is frozen the device keeps working for the actors but records
/// nothing. Its <see cref="DmEra.Testing.RecordingBlockDevice.Faults"/>: a slow flush widens the window
/// between "bits set on disk" and "commit durable", where an early in-core bit would let a write through; a
/// flush that lies (harness self-test) is not recorded, so no commit ever becomes durable.
/// The image holds the metadata and, in its last <see cref="LogBlocks"/> blocks, the intent log
/// (<see cref="HarnessLayout"/>); each file's fdatasync is a <see cref="FlushWindow"/> of its own blocks.
/// </summary>
public sealed class RecordingMetadataDevice : DmEra.Testing.RecordingBlockDevice, IWindowFlush
{
    private readonly IoTrace _trace;
    private readonly LiveInvariants? _live;
    private readonly byte[]?[] _durable;   // as each window's last flush left it
    private bool _superblockPending;
    private int _writes;

    /// <param name="logBlocks">The last this many blocks are the intent log (<see cref="HarnessLayout"/>); 0 = none.</param>
    public RecordingMetadataDevice(IoTrace trace, long blockCount, LiveInvariants? live = null, byte[]?[]? initial = null, long logBlocks = 0)
        : base(trace.Gate, blockCount, initial)
    {
        _trace = trace;
        _live = live;
        _durable = Image();
        LogBlocks = logBlocks;
    }

    public long LogBlocks { get; }
    public long MetadataBlocks => BlockCount - LogBlocks;

    /// <summary>
    /// Milliseconds each fdatasync of the metadata file (not the log's) takes: holds a background commit in
    /// flight while first writes go on appending to the log. Set by a workload while it runs.
    /// </summary>
    public int MetadataFileFlushDelayMs { get; set; }

    /// <summary>Harness self-test: once formatted, every fourth non-superblock write lands on a block the durable superblock reaches.</summary>
    public bool Misdirect { get; init; }

    protected override long Destination(long block) =>
        Misdirect && block != 0 && _live is { Durable.IsFormatted: true } && ++_writes % 4 == 0
            ? Array.FindIndex(_live.Durable.Reachable, 1, r => r)   // onto a live block
            : block;

    protected override void Recorded(long block, byte[] data)
    {
        if (!_trace.IsFrozen && block < MetadataBlocks) _live?.OnMetadataWrite(block);
        _trace.Add(seq => new TraceEvent(seq, EventKind.MetadataWrite) { Offset = block, Length = 1, Data = data });
        if (block == 0) _superblockPending = true;
    }

    protected override void Flushed() => RecordFlush(0, BlockCount);

    /// <summary>
    /// One file's fdatasync: only the writes to blocks [first, first + count) become durable. The durable
    /// view W2 and W3 check against is recomputed when a superblock or log records became durable.
    /// </summary>
    public void FlushWindow(long first, long count)
    {
        if (!Faults.BeforeFlush("metadata")) return;
        if (first < MetadataBlocks && MetadataFileFlushDelayMs is var delay and > 0) Thread.Sleep(delay);
        lock (Gate) RecordFlush(first, count);
    }

    private void RecordFlush(long first, long count)
    {
        _trace.Add(seq => new TraceEvent(seq, EventKind.MetadataFlush) { Offset = first, Length = count });
        Array.Copy(LiveBlocks, first, _durable, first, count);
        var metadataFlushed = first < MetadataBlocks;
        var logFlushed = first + count > MetadataBlocks;
        if ((_superblockPending && metadataFlushed || logFlushed) && !_trace.IsFrozen && _live is not null)
        {
            var (metadata, log) = HarnessLayout.Split(new ImageMetadataDevice(_durable), LogBlocks);
            _live.OnDurableSuperblock(DurableMetadataView.Of(metadata, log));
        }
        if (metadataFlushed) _superblockPending = false;
    }
}
