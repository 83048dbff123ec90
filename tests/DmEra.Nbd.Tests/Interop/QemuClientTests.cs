using System.Text.Json;
using DmEra.Nbd.Tests.Support;
using Xunit;

namespace DmEra.Nbd.Tests.Interop;

/// <summary>qemu-io and qemu-img (QEMU 7.2's NBD client) against the in-process server.</summary>
public sealed class QemuClientTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Qemu_io_patterns_fua_aio_discard_and_write_zeroes_read_back_correctly(bool unixSocket)
    {
        await using var server = new InteropServer();
        server.AddFileExport("disk", 64 << 20);
        string uri = unixSocket ? server.UnixUri("disk") : server.TcpUri("disk");
        var r = await ProcessRunner.RunAsync("qemu-io", ["-f", "raw", uri,
            "-c", "write -P 0xab 0 64k", "-c", "read -P 0xab 0 64k", "-c", "read -P 0 64k 64k",
            "-c", "write -f -P 0xcd 1M 4k", "-c", "read -P 0xcd 1M 4k",
            "-c", "write -P 0x11 2M 1M", "-c", "write -z 2M 512k", "-c", "read -P 0 2M 512k", "-c", "read -P 0x11 2560k 512k",
            "-c", "write -P 0x22 4M 1M", "-c", "write -z -u 4M 1M", "-c", "read -P 0 4M 1M",
            "-c", "write -P 0x33 8M 1M", "-c", "discard 8M 1M", "-c", "flush",
            "-c", "aio_write -P 0xee 16M 64k", "-c", "aio_write -P 0xef 17M 64k", "-c", "aio_write -P 0xf0 18M 3k", "-c", "aio_flush",
            "-c", "read -P 0xee 16M 64k", "-c", "read -P 0xef 17M 64k", "-c", "read -P 0xf0 18M 3k",
            "-c", "write -P 0x44 1000 1", "-c", "read -P 0x44 1000 1", "-c", "read -P 0xab 1001 1000"], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, r.Describe("qemu-io"));
        Assert.DoesNotContain("fail", r.Stdout + r.Stderr, StringComparison.OrdinalIgnoreCase);

        var file = await File.ReadAllBytesAsync(server.PathOf("disk"));
        Assert.All(file.AsSpan(17 << 20, 64 << 10).ToArray(), b => Assert.Equal(0xef, b));
        Assert.Equal(0x44, file[1000]);
    }

    [Fact]
    public async Task Qemu_img_converts_in_and_out_and_compares_equal()
    {
        await using var server = new InteropServer();
        server.AddFileExport("disk", 32 << 20);
        string source = Path.Combine(server.Directory, "source.raw");
        var content = new byte[32 << 20];
        new Random(42).NextBytes(content.AsSpan(0, 8 << 20));
        new Random(43).NextBytes(content.AsSpan(20 << 20, 3 << 20));
        await File.WriteAllBytesAsync(source, content);

        var info = await ProcessRunner.RunAsync("qemu-img", "info", "--output=json", "-f", "raw", server.TcpUri("disk"));
        Assert.True(info.ExitCode == 0, info.Describe("qemu-img info"));
        Assert.Equal(32L << 20, JsonDocument.Parse(info.Stdout).RootElement.GetProperty("virtual-size").GetInt64());

        var upload = await ProcessRunner.RunAsync("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", source, server.TcpUri("disk"));
        Assert.True(upload.ExitCode == 0, upload.Describe("qemu-img convert in"));
        var compare = await ProcessRunner.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", source, server.UnixUri("disk"));
        Assert.True(compare.ExitCode == 0, compare.Describe("qemu-img compare"));

        string copy = Path.Combine(server.Directory, "copy.raw");
        var download = await ProcessRunner.RunAsync("qemu-img", "convert", "-f", "raw", "-O", "raw", server.TcpUri("disk"), copy);
        Assert.True(download.ExitCode == 0, download.Describe("qemu-img convert out"));
        var downloaded = await File.ReadAllBytesAsync(copy);
        Assert.True(content.AsSpan().SequenceEqual(downloaded), "downloaded image differs from the source");

        content[30 << 20] ^= 1;
        await File.WriteAllBytesAsync(source, content);
        var differ = await ProcessRunner.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", source, server.TcpUri("disk"));
        Assert.True(differ.ExitCode == 1, differ.Describe("qemu-img compare of differing images"));
    }

    [Fact]
    public async Task Qemu_img_map_reports_zero_holes_from_base_allocation()
    {
        await using var server = new InteropServer();
        var export = server.AddFileExport("disk", 8 << 20);
        await export.WriteAsync(2 << 20, new byte[1 << 20].Select(_ => (byte)7).ToArray(), false, default);
        var map = await ProcessRunner.RunAsync("qemu-img", "map", "--output=json", "-f", "raw", server.TcpUri("disk"));
        Assert.True(map.ExitCode == 0, map.Describe("qemu-img map"));
        var extents = JsonDocument.Parse(map.Stdout).RootElement.EnumerateArray()
            .Select(e => (e.GetProperty("start").GetInt64(), e.GetProperty("length").GetInt64(), e.GetProperty("data").GetBoolean(), e.GetProperty("zero").GetBoolean()))
            .ToList();
        Assert.Equal([(0L, 2L << 20, false, true), (2L << 20, 1L << 20, true, false), (3L << 20, 5L << 20, false, true)], extents);
    }

    [Fact]
    public async Task Qemu_nbd_lists_the_exports_with_flags_block_sizes_and_contexts()
    {
        await using var server = new InteropServer();
        server.AddFileExport("disk", 1 << 20);
        var r = await ProcessRunner.RunAsync("qemu-nbd", "-L", "-b", "127.0.0.1", "-p", server.Endpoint.Port.ToString());
        Assert.True(r.ExitCode == 0, r.Describe("qemu-nbd -L"));
        Assert.Contains("export: 'disk'", r.Stdout);
        Assert.Contains("flags: 0xded ( flush fua trim zeroes df multi cache fast-zero )", r.Stdout);
        Assert.Contains("max block: 33554432", r.Stdout);
        Assert.Contains("base:allocation", r.Stdout);
    }
}
