using DmEra.Metadata.PersistentData;
using DmEra.Storage.Devices;
using DmEra.Testing;

namespace DmEra.Crash.Tests.Devices;

/// <summary>
/// Blocks [First, First + Count) of a larger image seen as a device of their own. The harness keeps the
/// metadata file and its intent log in one image (metadata first, then the log), so one trace, one crash
/// state and one overlay key cover both; each window's flush is its own file's fdatasync.
/// </summary>
public sealed class WindowDevice(MetadataDevice inner, long first, long count) : IBlockDevice
{
    public long SizeBytes => count * MetadataBlock.Size;

    public void Read(long offset, Span<byte> buffer) => inner.Read(first + MetadataBlock.At(offset, buffer.Length), buffer);

    public void Write(long offset, ReadOnlySpan<byte> buffer) => inner.Write(first + MetadataBlock.At(offset, buffer.Length), buffer);

    public void Flush()
    {
        if (inner.Device is RecordingBlockDevice recording) recording.FlushWindow(first, count);
        else inner.Flush();
    }

    public void Dispose() { }
}

/// <summary>Where the metadata ends and the intent log begins in a harness image.</summary>
public static class HarnessLayout
{
    /// <summary>The metadata and log devices of a combined image (log null when it has no log blocks).</summary>
    public static (MetadataDevice Metadata, MetadataDevice? Log) Split(MetadataDevice image, long logBlocks) =>
        logBlocks == 0
            ? (image, null)
            : (new MetadataDevice(new WindowDevice(image, 0, image.BlockCount - logBlocks)), new MetadataDevice(new WindowDevice(image, image.BlockCount - logBlocks, logBlocks)));

    /// <summary>The metadata part of a combined image (what era_check and era_invalidate are given).</summary>
    public static byte[]?[] MetadataPart(byte[]?[] image, long logBlocks) => image[..(int)(image.LongLength - logBlocks)];
}
