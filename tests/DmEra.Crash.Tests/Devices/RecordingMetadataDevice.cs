using DmEra.Crash.Tests.Live;
using DmEra.Crash.Tests.Trace;
using DmEra.Metadata;
using DmEra.Metadata.PersistentData;
using DmEra.Testing;

namespace DmEra.Crash.Tests.Devices;

/// <summary>
/// The metadata device of a recorded workload: a live image the volume reads and writes, and every write
/// (with its 4 KiB payload) and flush appended to the global trace. Writes are synchronous, so every
/// write since the last flush is "pending": what a crash may lose, reorder or tear. After the trace is
/// frozen the device keeps working for the actors but records nothing. Dispose does nothing: the image
/// outlives the volume (a clean reopen opens it again).
/// </summary>
public sealed class RecordingMetadataDevice : IMetadataDevice, IWindowFlush
{
    private readonly IoTrace _trace;
    private readonly LiveInvariants? _live;
    private readonly byte[]?[] _blocks;
    private readonly byte[]?[] _durable;   // as each window's last flush left it
    private bool _superblockPending;

    /// <param name="logBlocks">The last this many blocks are the intent log (<see cref="HarnessLayout"/>); 0 = none.</param>
    public RecordingMetadataDevice(IoTrace trace, long blockCount, LiveInvariants? live = null, byte[]?[]? initial = null, long logBlocks = 0)
    {
        _trace = trace;
        _live = live;
        _blocks = initial is null ? new byte[blockCount][] : (byte[]?[])initial.Clone();
        _durable = (byte[]?[])_blocks.Clone();
        LogBlocks = logBlocks;
    }

    public long LogBlocks { get; }
    public long MetadataBlocks => BlockCount - LogBlocks;

    public long BlockCount => _blocks.LongLength;
    public bool IsReadOnly => false;
    public int Flushes { get; private set; }

    /// <summary>
    /// Injected faults (shared with the engine specs' devices): a slow flush widens the window between "bits
    /// set on disk" and "commit durable", where an early in-core bit would let a write through; a flush that
    /// lies (harness self-test) is not recorded, so no commit ever becomes durable.
    /// </summary>
    public DeviceFaults Faults { get; init; } = new();

    /// <summary>Harness self-test: once formatted, every fourth non-superblock write lands on a block the durable superblock reaches.</summary>
    public bool Misdirect { get; init; }
    private int _writes;

    public void Read(long block, Span<byte> buffer)
    {
        Check(block);
        lock (_trace.Gate)
        {
            var data = _blocks[block];
            if (data is null) buffer[..MetadataBlock.Size].Clear();
            else data.CopyTo(buffer);
        }
    }

    public void Write(long block, ReadOnlySpan<byte> buffer)
    {
        Check(block);
        var data = buffer[..MetadataBlock.Size].ToArray();
        lock (_trace.Gate)
        {
            if (Misdirect && block != 0 && _live is { Durable.IsFormatted: true } && ++_writes % 4 == 0)
                block = Array.FindIndex(_live.Durable.Reachable, 1, r => r);   // onto a live block

            if (!_trace.IsFrozen && block < MetadataBlocks) _live?.OnMetadataWrite(block);
            _blocks[block] = data;
            _trace.Add(seq => new TraceEvent(seq, EventKind.MetadataWrite) { Offset = block, Length = 1, Data = data });
            if (block == 0) _superblockPending = true;
        }
    }

    public void Flush() => FlushWindow(0, BlockCount);

    /// <summary>
    /// One file's fdatasync: only the writes to blocks [first, first + count) become durable. The durable
    /// view W2 and W3 check against is recomputed when a superblock or log records became durable.
    /// </summary>
    public void FlushWindow(long first, long count)
    {
        if (!Faults.BeforeFlush("metadata")) return;
        lock (_trace.Gate)
        {
            Flushes++;
            _trace.Add(seq => new TraceEvent(seq, EventKind.MetadataFlush) { Offset = first, Length = count });
            Array.Copy(_blocks, first, _durable, first, count);
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

    /// <summary>The live image (tests of the harness compare it with materialised states).</summary>
    public byte[]?[] Image()
    {
        lock (_trace.Gate) return (byte[]?[])_blocks.Clone();
    }

    public void Dispose() { }

    private void Check(long block)
    {
        if ((ulong)block >= (ulong)_blocks.LongLength)
            throw new MetadataException($"metadata block {block} is beyond the end of the device ({_blocks.LongLength} blocks)");
    }
}
