using DmEra.Storage.Devices;

namespace DmEra.Storage.Tests;

public sealed class DeviceFamilyTests
{
    [Fact]
    public async Task A_failing_device_fails_the_chosen_writes_and_flushes_without_touching_the_inner_device()
    {
        using var memory = new MemoryOriginDevice(8192);
        var failing = new FailingOriginDevice(memory) { FailWrite = (offset, _) => offset == 4096 };
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
        using var device = new NullOriginDevice(1L << 50);
        await device.WriteAsync(1L << 49, new byte[] { 7 });
        await device.TrimAsync(0, 1L << 40);
        var back = new byte[] { 5, 5 };
        await device.ReadAsync(1L << 49, back);
        Assert.Equal(new byte[2], back);
        Assert.Equal(2, device.Writes);
        Assert.Equal(1L << 50, device.SizeBytes);
    }
}
