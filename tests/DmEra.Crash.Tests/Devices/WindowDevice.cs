using DmEra.Metadata;
using DmEra.Metadata.PersistentData;

namespace DmEra.Crash.Tests.Devices;

/// <summary>A device that flushes part of itself: a file's fdatasync makes only that file's writes durable.</summary>
public interface IWindowFlush
{
    void FlushWindow(long first, long count);
}

/// <summary>
/// Blocks [First, First + Count) of a larger image seen as a device of their own. The harness keeps the
/// metadata file and its intent log in one image (metadata first, then the log), so one trace, one crash
/// state and one overlay key cover both; each window's flush is its own file's fdatasync.
/// </summary>
public sealed class WindowDevice(IMetadataDevice inner, long first, long count) : IMetadataDevice
{
    public long BlockCount => count;
    public bool IsReadOnly => inner.IsReadOnly;

    public void Read(long block, Span<byte> buffer)
    {
        Check(block);
        inner.Read(first + block, buffer);
    }

    public void Write(long block, ReadOnlySpan<byte> buffer)
    {
        Check(block);
        inner.Write(first + block, buffer);
    }

    public void Flush()
    {
        if (inner is IWindowFlush w) w.FlushWindow(first, count);
        else inner.Flush();
    }

    public void Dispose() { }

    private void Check(long block)
    {
        if ((ulong)block >= (ulong)count)
            throw new MetadataException($"block {block} is beyond the end of the device ({count} blocks)");
    }
}

/// <summary>Where the metadata ends and the intent log begins in a harness image.</summary>
public static class HarnessLayout
{
    /// <summary>The metadata and log devices of a combined image (log null when it has no log blocks).</summary>
    public static (IMetadataDevice Metadata, IMetadataDevice? Log) Split(IMetadataDevice image, long logBlocks) =>
        logBlocks == 0
            ? (image, null)
            : (new WindowDevice(image, 0, image.BlockCount - logBlocks), new WindowDevice(image, image.BlockCount - logBlocks, logBlocks));

    /// <summary>The metadata part of a combined image (what era_check and era_invalidate are given).</summary>
    public static byte[]?[] MetadataPart(byte[]?[] image, long logBlocks) => image[..(int)(image.LongLength - logBlocks)];
}
