using DmEra.Storage.Devices;

namespace DmEra.Storage.Tests;

public sealed class DeviceFamilyTests
{
    [Fact]
    public async Task A_failing_device_fails_the_chosen_writes_and_flushes_without_touching_the_inner_device()
    {
        using IBlockDevice memory = new MemoryDevice(8192);
        var failing = new FailingDevice(memory) { FailWrite = (offset, _) => offset == 4096 };
        await failing.WriteAsync(0, new byte[] { 1, 2, 3 });
        await Assert.ThrowsAsync<IOException>(async () => await failing.WriteAsync(4096, new byte[] { 9 }));
        await Assert.ThrowsAsync<IOException>(async () => await failing.WriteZeroesAsync(4096, 10));

        var back = new byte[4];
        await memory.ReadAsync(0, back);
        Assert.Equal(new byte[] { 1, 2, 3, 0 }, back);
        await memory.ReadAsync(4096, back);
        Assert.Equal(new byte[4], back);

        await failing.FlushAsync();
        failing.FailFlush = true;
        await Assert.ThrowsAsync<IOException>(async () => await failing.FlushAsync());
    }

    [Fact]
    public async Task A_null_device_of_any_size_reads_zeroes_and_counts_what_it_was_asked_to_write()
    {
        using var nullDevice = new NullDevice(1L << 50);
        IBlockDevice device = nullDevice;
        await device.WriteAsync(1L << 49, new byte[] { 7 });
        await device.TrimAsync(0, 1L << 40);
        var back = new byte[] { 5, 5 };
        await device.ReadAsync(1L << 49, back);
        Assert.Equal(new byte[2], back);
        Assert.Equal(2, nullDevice.Writes);
        Assert.Equal(1L << 50, device.SizeBytes);
    }

    [Fact]
    public async Task A_memory_device_keeps_writes_that_straddle_its_pages_and_reads_zeroes_where_nothing_was_written()
    {
        IBlockDevice device = new MemoryDevice(5 * MemoryDevice.PageSize + 100);
        var data = Enumerable.Range(0, 2 * MemoryDevice.PageSize + 10).Select(i => (byte)(i % 251 + 1)).ToArray();
        await device.WriteAsync(MemoryDevice.PageSize - 5, data);
        await device.WriteZeroesAsync(MemoryDevice.PageSize + 7, 3);
        Array.Clear(data, 12, 3);

        var back = new byte[5 * MemoryDevice.PageSize + 100];
        device.Read(0, back);
        Assert.All(back[..(MemoryDevice.PageSize - 5)], b => Assert.Equal(0, b));
        Assert.Equal(data, back[(MemoryDevice.PageSize - 5)..(MemoryDevice.PageSize - 5 + data.Length)]);
        Assert.All(back[(MemoryDevice.PageSize - 5 + data.Length)..], b => Assert.Equal(0, b));
        Assert.Throws<ArgumentOutOfRangeException>(() => device.Write(5 * MemoryDevice.PageSize + 99, new byte[2]));
    }

    [Fact]
    public async Task A_file_device_sees_its_synchronous_and_asynchronous_writes_alike_and_flushes_both_ways()
    {
        var path = Path.Combine(Path.GetTempPath(), $"dmera-filedevice-{Guid.NewGuid():N}");
        File.WriteAllBytes(path, new byte[3 * 4096]);
        try
        {
            using var device = FileDevice.Open(path);
            IBlockDevice contract = device;
            contract.Write(4096, [ReadOnlyMemory<byte>.Empty, new byte[] { 1, 2 }, new byte[] { 3 }]);
            await contract.WriteAsync(4099, new byte[] { 4 });
            contract.Flush();
            await contract.FlushAsync();
            var back = new byte[5];
            await contract.ReadAsync(4096, back);
            Assert.Equal(new byte[] { 1, 2, 3, 4, 0 }, back);
            contract.Read(4095, back);
            Assert.Equal(new byte[] { 0, 1, 2, 3, 4 }, back);
            Assert.Equal(1, device.Flushes);   // the asynchronous one; the synchronous fdatasync runs on the caller's thread
            Assert.Equal(3 * 4096, device.SizeBytes);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
