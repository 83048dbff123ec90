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
public sealed class RecordingMetadataDevice(IoTrace trace, long blockCount, LiveInvariants? live = null, byte[]?[]? initial = null)
    : DmEra.Testing.RecordingBlockDevice(trace.Gate, blockCount, initial)
{
    private bool _superblockPending;
    private int _writes;

    /// <summary>Harness self-test: once formatted, every fourth non-superblock write lands on a block the durable superblock reaches.</summary>
    public bool Misdirect { get; init; }

    protected override long Destination(long block) =>
        Misdirect && block != 0 && live is { Durable.IsFormatted: true } && ++_writes % 4 == 0
            ? Array.FindIndex(live.Durable.Reachable, 1, r => r)   // onto a live block
            : block;

    protected override void Recorded(long block, byte[] data)
    {
        if (!trace.IsFrozen) live?.OnMetadataWrite(block);
        trace.Add(seq => new TraceEvent(seq, EventKind.MetadataWrite) { Offset = block, Length = 1, Data = data });
        if (block == 0) _superblockPending = true;
    }

    protected override void Flushed()
    {
        trace.Add(seq => new TraceEvent(seq, EventKind.MetadataFlush));
        if (_superblockPending && !trace.IsFrozen && live is not null)
            live.OnDurableSuperblock(DurableMetadataView.Of(new ImageMetadataDevice(LiveBlocks)));
        _superblockPending = false;
    }
}
