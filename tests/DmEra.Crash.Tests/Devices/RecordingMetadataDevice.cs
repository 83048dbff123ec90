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
/// </summary>
/// <param name="logBlocks">The last this many blocks are the intent log (<see cref="HarnessLayout"/>); 0 = none.</param>
public sealed class RecordingMetadataDevice(IoTrace trace, long blockCount, LiveInvariants? live = null, byte[]?[]? initial = null, long logBlocks = 0)
    : DmEra.Testing.RecordingBlockDevice(trace.Gate, blockCount, initial)
{
    private readonly byte[]?[] _durable = initial is null ? new byte[blockCount][] : (byte[]?[])initial.Clone();   // as each window's last flush left it
    private bool _superblockPending;
    private int _writes;

    public long LogBlocks => logBlocks;
    public long MetadataBlocks => BlockCount - logBlocks;

    /// <summary>
    /// Milliseconds each fdatasync of the metadata file (not the log's) takes: holds a background commit in
    /// flight while first writes go on appending to the log. Set by a workload while it runs.
    /// </summary>
    public int MetadataFileFlushDelayMs { get; set; }

    protected override void BeforeFlushed(long first, long count)
    {
        if (first < MetadataBlocks && MetadataFileFlushDelayMs is var delay and > 0) Thread.Sleep(delay);
    }

    /// <summary>Harness self-test: once formatted, every fourth non-superblock write lands on a block the durable superblock reaches.</summary>
    public bool Misdirect { get; init; }

    protected override long Destination(long block) =>
        Misdirect && block != 0 && live is { Durable.IsFormatted: true } && ++_writes % 4 == 0
            ? Array.FindIndex(live.Durable.Reachable, 1, r => r)   // onto a live block
            : block;

    protected override void Recorded(long block, byte[] data)
    {
        if (!trace.IsFrozen && block < MetadataBlocks) live?.OnMetadataWrite(block);
        trace.Add(seq => new TraceEvent(seq, EventKind.MetadataWrite) { Offset = block, Length = 1, Data = data });
        if (block == 0) _superblockPending = true;
    }

    /// <summary>
    /// One file's fdatasync: only the writes to blocks [first, first + count) became durable. The durable
    /// view W2 and W3 check against is recomputed when a superblock or log records became durable.
    /// </summary>
    protected override void Flushed(long first, long count)
    {
        trace.Add(seq => new TraceEvent(seq, EventKind.MetadataFlush) { Offset = first, Length = count });
        Array.Copy(LiveBlocks, first, _durable, first, count);
        var metadataFlushed = first < MetadataBlocks;
        var logFlushed = first + count > MetadataBlocks;
        if ((_superblockPending && metadataFlushed || logFlushed) && !trace.IsFrozen && live is not null)
        {
            var (metadata, log) = HarnessLayout.Split(new ImageMetadataDevice(_durable), logBlocks);
            live.OnDurableSuperblock(DurableMetadataView.Of(metadata, log));
        }
        if (metadataFlushed) _superblockPending = false;
    }
}
