using DmEra.Storage.Devices;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;

namespace DmEra.Storage.Tests;

/// <summary>The intent log's device: O_DIRECT, each write one pwritev2(RWF_DSYNC); refused where the kernel refuses direct I/O.</summary>
public sealed class WriteThroughFileDeviceTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("dmera-writethrough-");

    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Fact]
    public void Writes_go_out_with_O_DIRECT_and_read_back_through_the_device_and_through_the_page_cache()
    {
        var path = Path.Combine(_dir.FullName, "log");
        File.WriteAllBytes(path, new byte[64 << 10]);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        using var device = WriteThroughFileDevice.TryOf(handle, path, out var refusal);
        Assert.True(device is not null, refusal);
        Assert.True(LinuxFile.IsDirect(handle));
        Assert.Equal(1, device.Writes);   // the probe: block 0 written back as it was

        var one = Pattern(4096, 1);
        var two = Pattern(8192, 2);
        device.Write(4096, one);
        device.Write(3 * 4096, [two.AsMemory(0, 4096), two.AsMemory(4096)]);   // one gathered pwritev2
        Assert.Equal(3, device.Writes);
        device.Flush();   // nothing to do, and no error
        var back = new byte[3 * 4096];
        device.Read(4096, back.AsSpan(0, 4096));
        device.Read(3 * 4096, back.AsSpan(4096));
        Assert.Equal(one, back[..4096]);
        Assert.Equal(two, back[4096..]);
        // Another open file (buffered, through the page cache; opened without .NET's flock) sees the same bytes.
        using var other = new SafeFileHandle(Syscall.open(path, OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC), ownsHandle: true);
        Assert.False(other.IsInvalid);
        var cached = new byte[4096];
        RandomAccess.Read(other, cached, 4096);
        Assert.Equal(one, cached);
    }

    [Fact]
    public void Io_that_is_not_whole_4_KiB_blocks_is_refused_with_a_clear_error()
    {
        var path = Path.Combine(_dir.FullName, "log");
        File.WriteAllBytes(path, new byte[16 << 10]);
        using var device = WriteThroughFileDevice.TryOf(File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None), path, out _)!;
        Assert.Contains("whole 4096-byte blocks", Assert.Throws<ArgumentException>(() => device.Write(512, new byte[4096])).Message);
        Assert.Contains("whole 4096-byte blocks", Assert.Throws<ArgumentException>(() => device.Read(0, new byte[512])).Message);
    }

    [Fact]
    public void A_file_whose_filesystem_refuses_O_DIRECT_is_refused_with_the_kernels_reason_and_its_handle_left_as_it_was()
    {
        // procfs cannot do direct I/O: the kernel refuses O_DIRECT on its files with EINVAL, as it does on
        // any filesystem without direct I/O (tmpfs before Linux 6.6, some FUSE filesystems).
        var handle = File.OpenHandle("/proc/self/status", FileMode.Open, FileAccess.Read);
        Assert.Null(WriteThroughFileDevice.TryOf(handle, "/proc/self/status", out var refusal));
        Assert.Equal("O_DIRECT refused (EINVAL)", refusal);
        Assert.False(handle.IsClosed);
        Assert.False(LinuxFile.IsDirect(handle));
        Assert.True(RandomAccess.Read(handle, new byte[64], 0) > 0);
        handle.Dispose();
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
