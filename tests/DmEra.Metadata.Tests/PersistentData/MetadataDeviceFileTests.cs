using DmEra.Metadata.Era;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.PersistentData;
using DmEra.Storage;

namespace DmEra.Metadata.Tests.PersistentData;

public sealed class MetadataDeviceFileTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"dmera-fmd-{Guid.NewGuid():N}.meta");

    public MetadataDeviceFileTests()
    {
        using var f = File.Create(_path);
        f.SetLength(64 * MetadataBlock.Size);
    }

    public void Dispose() => File.Delete(_path);

    private static byte[] Filled(byte value) => Enumerable.Repeat(value, MetadataBlock.Size).ToArray();

    [Fact]
    public void A_run_of_blocks_lands_at_its_offsets_and_nowhere_else()
    {
        using (var device = MetadataDevice.Open(_path, writable: true, DeviceLock.Exclusive))
            device.Write(5, new ReadOnlyMemory<byte>[] { Filled(1), Filled(2), Filled(3) });
        var bytes = File.ReadAllBytes(_path);
        for (var block = 0; block < 64; block++)
        {
            var expected = block is >= 5 and <= 7 ? (byte)(block - 4) : (byte)0;
            Assert.True(bytes.AsSpan(block * MetadataBlock.Size, MetadataBlock.Size).IndexOfAnyExcept(expected) < 0, $"block {block}");
        }
    }

    [Fact]
    public void Allocating_a_sparse_file_fills_every_hole_with_zeros_and_keeps_what_was_written()
    {
        long FirstHole()
        {
            using var h = File.OpenHandle(_path);
            return LinuxFile.NextHole(LinuxFile.Fd(h), 0, 64 * MetadataBlock.Size);
        }
        Assert.Equal(0, FirstHole());
        using (var device = MetadataDevice.Open(_path, writable: true, DeviceLock.Exclusive))
        {
            device.Write(5, Filled(7));
            device.Flush();
            Assert.Equal(63L * MetadataBlock.Size, device.AllocateHoles());
            Assert.Equal(0, device.AllocateHoles());   // nothing left to fill
        }
        Assert.Equal(64L * MetadataBlock.Size, FirstHole());   // the end of the file is the only hole left
        var bytes = File.ReadAllBytes(_path);
        Assert.Equal(64 * MetadataBlock.Size, bytes.Length);
        for (var block = 0; block < 64; block++)
            Assert.True(bytes.AsSpan(block * MetadataBlock.Size, MetadataBlock.Size).IndexOfAnyExcept(block == 5 ? (byte)7 : (byte)0) < 0, $"block {block}");
        using (var readOnly = MetadataDevice.Open(_path, writable: false, DeviceLock.Shared))
            Assert.Equal(0, readOnly.AllocateHoles());
    }

    [Fact]
    public void A_run_past_the_end_or_on_a_read_only_device_writes_nothing()
    {
        using (var device = MetadataDevice.Open(_path, writable: true, DeviceLock.Exclusive))
            Assert.Throws<MetadataException>(() => device.Write(63, new ReadOnlyMemory<byte>[] { Filled(9), Filled(9) }));
        using (var device = MetadataDevice.Open(_path, writable: false, DeviceLock.Shared))
            Assert.Throws<InvalidOperationException>(() => device.Write(0, new ReadOnlyMemory<byte>[] { Filled(9) }));
        Assert.True(File.ReadAllBytes(_path).AsSpan().IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void Commits_written_in_runs_read_back_clean()
    {
        using (var device = MetadataDevice.Open(_path, writable: true, DeviceLock.Exclusive))
        using (var md = EraMetadata.Format(device, 8))
        {
            md.Resize(100_000);
            md.Rollover();
            md.MarkBlocks([1, 40_000, 99_999]);
            md.Commit();
        }
        using var check = MetadataDevice.Open(_path, writable: false, DeviceLock.Shared);
        var report = MetadataChecker.Check(check);
        Assert.True(report.IsClean, string.Join("\n", report.Errors));
    }
}
