#nullable enable
using System.Text.Json;
using DmEra.Nbd.Exports;
using DmEra.Nbd.Tests.Support;
using Xunit;

namespace DmEra.Nbd.Tests.Interop;

/// <summary>nbdinfo and nbdcopy (libnbd 1.14) against the in-process server.</summary>
public sealed class LibnbdToolTests
{
    [Fact]
    public async Task Nbdinfo_list_shows_every_export_with_its_size()
    {
        await using var server = new InteropServer();
        server.AddFileExport("alpha", 1 << 20);
        server.Catalog.Add("beta", new MemoryExport(2 << 20, readOnly: true, description: "second"));
        var r = await ProcessRunner.RunAsync("nbdinfo", "--json", "--list", $"nbd://127.0.0.1:{server.Endpoint.Port}");
        Assert.True(r.ExitCode == 0, r.Describe("nbdinfo --list"));
        Assert.True(r.Stdout.Contains("\"exports\""), r.Describe("nbdinfo --list"));
        var exports = JsonDocument.Parse(r.Stdout).RootElement.GetProperty("exports").EnumerateArray()
            .ToDictionary(e => e.GetProperty("export-name").GetString()!, e => e);
        Assert.Equal(["alpha", "beta"], exports.Keys.Order());
        Assert.Equal(1L << 20, exports["alpha"].GetProperty("export-size").GetInt64());
        Assert.Equal(2L << 20, exports["beta"].GetProperty("export-size").GetInt64());
        Assert.True(exports["beta"].GetProperty("is_read_only").GetBoolean());
        Assert.Equal("second", exports["beta"].GetProperty("description").GetString());
    }

    [Fact]
    public async Task Nbdinfo_reports_flags_block_sizes_and_contexts()
    {
        await using var server = new InteropServer();
        server.AddFileExport("disk", 4 << 20);
        var r = await ProcessRunner.RunAsync("nbdinfo", "--json", server.UnixUri("disk"));
        Assert.True(r.ExitCode == 0, r.Describe("nbdinfo"));
        var e = JsonDocument.Parse(r.Stdout).RootElement.GetProperty("exports")[0];
        foreach (var flag in new[] { "can_multi_conn", "can_flush", "can_fua", "can_trim", "can_zero", "can_fast_zero", "can_cache", "can_df" })
            Assert.True(e.GetProperty(flag).GetBoolean(), flag);
        Assert.False(e.GetProperty("is_read_only").GetBoolean());
        Assert.Equal(1, e.GetProperty("block_size_minimum").GetInt32());
        Assert.Equal(4096, e.GetProperty("block_size_preferred").GetInt32());
        Assert.Equal(32 << 20, e.GetProperty("block_size_maximum").GetInt32());
        Assert.Contains("base:allocation", e.GetProperty("contexts").EnumerateArray().Select(c => c.GetString()));
    }

    [Fact]
    public async Task Nbdinfo_map_shows_base_allocation_holes_and_data()
    {
        await using var server = new InteropServer();
        var export = server.AddFileExport("disk", 8 << 20);
        await export.WriteAsync(1 << 20, Enumerable.Repeat((byte)3, 1 << 20).ToArray(), false, default);
        var r = await ProcessRunner.RunAsync("nbdinfo", "--map", server.TcpUri("disk"));
        Assert.True(r.ExitCode == 0, r.Describe("nbdinfo --map"));
        Assert.Equal([
            (0L, 1L << 20, 3),
            (1L << 20, 1L << 20, 0),
            (2L << 20, 6L << 20, 3)], ParseMap(r.Stdout));
    }

    [Fact]
    public async Task Nbdinfo_maps_the_era_contexts_of_a_volume()
    {
        await using var server = new InteropServer();
        // 64 blocks of 64 KiB; block b was last written in era b % 8.
        var export = new SyntheticEraExport(4 << 20, 65536, block => (uint)(block % 8));
        server.Catalog.Add("vol", export);

        var since = await ProcessRunner.RunAsync("nbdinfo", "--map=x-dm-era:written-since:5", server.TcpUri("vol"));
        Assert.True(since.ExitCode == 0, since.Describe("nbdinfo --map=x-dm-era:written-since:5"));
        var expected = new List<(long, long, int)>();
        for (int group = 0; group < 8; group++)
        {
            expected.Add((group * 8L * 65536, 5 * 65536L, 0));
            expected.Add((group * 8L * 65536 + 5 * 65536, 3 * 65536L, 1));
        }
        Assert.Equal(expected, ParseMap(since.Stdout));

        var eras = await ProcessRunner.RunAsync("nbdinfo", "--map=x-dm-era:era", server.UnixUri("vol"));
        Assert.True(eras.ExitCode == 0, eras.Describe("nbdinfo --map=x-dm-era:era"));
        Assert.Equal(Enumerable.Range(0, 64).Select(b => (b * 65536L, 65536L, b % 8)), ParseMap(eras.Stdout));

        var list = await ProcessRunner.RunAsync("nbdinfo", "--json", server.TcpUri("vol"));
        var contexts = JsonDocument.Parse(list.Stdout).RootElement.GetProperty("exports")[0].GetProperty("contexts").EnumerateArray().Select(c => c.GetString());
        Assert.Contains("x-dm-era:era", contexts);
    }

    [Fact]
    public async Task Nbdcopy_copies_in_and_out_and_the_bytes_match()
    {
        await using var server = new InteropServer();
        server.AddFileExport("disk", 48 << 20);
        string source = Path.Combine(server.Directory, "source.raw");
        var content = new byte[48 << 20];
        new Random(7).NextBytes(content.AsSpan(0, 10 << 20));
        new Random(8).NextBytes(content.AsSpan(30 << 20, 5 << 20));
        await File.WriteAllBytesAsync(source, content);

        var upload = await ProcessRunner.RunAsync("nbdcopy", "--flush", source, server.TcpUri("disk"));
        Assert.True(upload.ExitCode == 0, upload.Describe("nbdcopy in"));
        var uploaded = await File.ReadAllBytesAsync(server.PathOf("disk"));
        Assert.True(content.AsSpan().SequenceEqual(uploaded), "uploaded bytes differ");

        string copy = Path.Combine(server.Directory, "copy.raw");
        var download = await ProcessRunner.RunAsync("nbdcopy", server.UnixUri("disk"), copy);
        Assert.True(download.ExitCode == 0, download.Describe("nbdcopy out"));
        var downloaded = await File.ReadAllBytesAsync(copy);
        Assert.True(content.AsSpan().SequenceEqual(downloaded), "downloaded bytes differ");

        var nbdToNbd = await ProcessRunner.RunAsync("nbdcopy", server.TcpUri("disk"), "--", "[", "nbdkit", "--exit-with-parent", "memory", "48M", "]");
        Assert.True(nbdToNbd.ExitCode == 0, nbdToNbd.Describe("nbdcopy to nbdkit"));
    }

    /// <summary>Parses nbdinfo --map lines "offset length type description".</summary>
    internal static List<(long Offset, long Length, int Type)> ParseMap(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(p => (long.Parse(p[0]), long.Parse(p[1]), int.Parse(p[2])))
            .ToList();
}
