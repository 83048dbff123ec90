using DmEra.Engine.Origin;
using DmEra.Metadata.PersistentData;

namespace DmEra.Engine.Tests;

/// <summary>
/// An origin fdatasync error is data loss (issue 15 item 4): Linux may report the next fdatasync as a
/// success after dropping the pages it could not write. The origin here fails one flush and then succeeds,
/// as Linux does; the volume must keep failing flushes. (The daemon test does it with a real loop device.)
/// </summary>
public sealed class OriginSyncFailureSpecs(ITestOutputHelper output) : EngineSpec(output)
{
    private const int B = 4096;

    /// <summary>Fails the flush numbered <see cref="FailFlush"/> (1-based), succeeds at every other.</summary>
    private sealed class ForgetfulOrigin(long size) : IBlockDevice
    {
        private readonly MemoryDevice _inner = new(size);
        private int _flushes;
        public int FailFlush { get; set; } = int.MaxValue;
        public long SizeBytes => _inner.SizeBytes;
        public void Read(long offset, Span<byte> buffer) => _inner.Read(offset, buffer);
        public void Write(long offset, ReadOnlySpan<byte> data) => _inner.Write(offset, data);
        public ValueTask WriteZeroesAsync(long offset, long length) => ((IBlockDevice)_inner).WriteZeroesAsync(offset, length);
        public void Flush()
        {
            if (Interlocked.Increment(ref _flushes) == FailFlush) throw new IOException("fdatasync failed: EIO");
        }
        public void Dispose() => _inner.Dispose();
    }

    [Fact]
    public async Task After_one_failed_origin_flush_every_later_flush_and_fua_write_fails_and_the_volume_says_why()
    {
        var origin = new ForgetfulOrigin(64 * B);
        var volume = await StartAsync(MetadataDevice.InMemory(1024), origin);
        await Bounded(volume.WriteAsync(0, Pattern(B, 1)));
        await Bounded(volume.FlushAsync());
        Assert.Null(volume.OriginSyncFailure);

        origin.FailFlush = 2;
        await Assert.ThrowsAsync<OriginSyncFailedException>(() => Bounded(volume.FlushAsync()));
        // The device would now report success: the volume does not.
        await Assert.ThrowsAsync<OriginSyncFailedException>(() => Bounded(volume.FlushAsync()));
        await Assert.ThrowsAsync<OriginSyncFailedException>(() => Bounded(volume.WriteAsync(B, Pattern(B, 2), fua: true)));
        Assert.Contains("origin fdatasync failed", volume.OriginSyncFailure);
        Assert.Contains("fdatasync failed: EIO", volume.OriginSyncFailure);

        // Reads and plain writes go on; the stop reports the refused final flush.
        await Bounded(volume.WriteAsync(2 * B, Pattern(B, 3)));
        var data = new byte[B];
        await Bounded(volume.ReadAsync(0, data));
        Assert.Equal(Pattern(B, 1), data);
        await Assert.ThrowsAsync<OriginSyncFailedException>(() => Bounded(volume.StopAsync()));
    }
}
