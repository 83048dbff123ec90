using DmEra.Metadata;
using DmEra.Metadata.PersistentData;
using DmEra.Storage.Devices;

namespace DmEra.Testing;

/// <summary>
/// The recording metadata device of both suites (each derives its own, named for what it records): a live image of 4 KiB blocks the volume reads and writes,
/// the injected <see cref="Faults"/>, and a record of every write and flush in the order the device saw
/// them. What the record is belongs to the suite: the engine specs log operation order against durable
/// versions (<c>DmEra.Engine.Tests.Fakes.RecordingMetadataDevice</c>), the crash suite appends a replayable
/// trace (<c>DmEra.Crash.Tests.Devices.RecordingMetadataDevice</c>). Writes are synchronous, so every write
/// since the last flush is what a crash may lose. Dispose does nothing: the image outlives the volume.
/// </summary>
public abstract class RecordingBlockDevice : IBlockDevice
{
    private readonly byte[]?[] _blocks;

    /// <param name="gate">The lock the suite's record is kept under: a device operation and its record are one step.</param>
    protected RecordingBlockDevice(object gate, long blockCount, byte[]?[]? initial)
    {
        Gate = gate;
        _blocks = initial is null ? new byte[blockCount][] : (byte[]?[])initial.Clone();
    }

    protected object Gate { get; }

    public long BlockCount => _blocks.LongLength;
    public long SizeBytes => _blocks.LongLength * MetadataBlock.Size;

    public static implicit operator MetadataDevice(RecordingBlockDevice device) => new(device);

    /// <summary>Flushes that made something durable (a lying one does not count).</summary>
    public int Flushes { get; private set; }

    /// <summary>The injected faults.</summary>
    public DeviceFaults Faults { get; init; } = new();

    /// <summary>Reads metadata block <paramref name="block"/> (a block number, where the device contract takes a byte offset).</summary>
    public void Read(long block, Span<byte> buffer)
    {
        Check(block);
        lock (Gate)
        {
            var data = _blocks[block];
            if (data is null) buffer[..MetadataBlock.Size].Clear();
            else data.CopyTo(buffer);
        }
    }

    /// <summary>Writes metadata block <paramref name="block"/> (a block number, as <see cref="Read"/>).</summary>
    public void Write(long block, ReadOnlySpan<byte> buffer)
    {
        Check(block);
        Faults.BeforeWrite(block, "metadata block");
        var data = buffer[..MetadataBlock.Size].ToArray();
        lock (Gate)
        {
            block = Destination(block);
            _blocks[block] = data;
            Recorded(block, data);
        }
    }

    public void Flush() => FlushWindow(0, BlockCount);

    /// <summary>One file's fdatasync when the image holds several files: only blocks [first, first + count) become durable.</summary>
    public void FlushWindow(long first, long count)
    {
        if (!Faults.BeforeFlush("metadata")) return;
        BeforeFlushed(first, count);
        lock (Gate)
        {
            Flushes++;
            Flushed(first, count);
        }
    }

    /// <summary>Runs outside the gate before a flush is recorded: where a slow disk's fdatasync takes its time.</summary>
    protected virtual void BeforeFlushed(long first, long count) { }

    /// <summary>The live image (blocks are replaced on write, never changed in place, so a shallow copy is a snapshot).</summary>
    public byte[]?[] Image()
    {
        lock (Gate) return (byte[]?[])_blocks.Clone();
    }

    public void Dispose() { }

    /// <summary>Where a write really lands (a harness self-test misdirects some); called under the gate.</summary>
    protected virtual long Destination(long block) => block;

    /// <summary>Records a write, under the gate, after the block is in the image.</summary>
    protected abstract void Recorded(long block, byte[] data);

    /// <summary>Records a flush, under the gate: the image's blocks [first, first + count) are now durable.</summary>
    protected abstract void Flushed(long first, long count);

    /// <summary>The live image itself, for a record taken under the gate.</summary>
    protected byte[]?[] LiveBlocks => _blocks;

    void IBlockDevice.Read(long offset, Span<byte> buffer) => Read(MetadataBlock.At(offset, buffer.Length), buffer);

    void IBlockDevice.Write(long offset, ReadOnlySpan<byte> buffer) => Write(MetadataBlock.At(offset, buffer.Length), buffer);

    private void Check(long block)
    {
        if ((ulong)block >= (ulong)_blocks.LongLength)
            throw new MetadataException($"metadata block {block} is beyond the end of the device ({_blocks.LongLength} blocks)");
    }
}
