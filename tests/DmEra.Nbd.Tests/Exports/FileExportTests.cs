using DmEra.Nbd.Exports;
using Xunit;

namespace DmEra.Nbd.Tests.Exports;

public sealed class FileExportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dmera-nbd-file-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private FileExport Create(long size, bool readOnly = false)
    {
        string path = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        using (var f = File.Create(path)) f.SetLength(size);
        return new FileExport(path, readOnly);
    }

    private static async Task<List<NbdExtent>> Allocation(INbdExport export, long offset, long length)
    {
        var list = new NbdExtentList(1000, length);
        await export.ResolveMetaContext(NbdMetaContexts.BaseAllocation)!.GetExtentsAsync(offset, length, list, default);
        return Enumerable.Range(0, list.Count).Select(i => list[i]).ToList();
    }

    [Fact]
    public async Task A_new_sparse_file_is_one_zero_hole()
    {
        using var export = Create(4 << 20);
        Assert.Equal(4L << 20, export.Size);
        Assert.Equal([new NbdExtent(4 << 20, 3)], await Allocation(export, 0, 4 << 20));
    }

    [Fact]
    public async Task Writes_read_back_and_show_as_data_between_holes()
    {
        using var export = Create(4 << 20);
        var data = Enumerable.Range(0, 65536).Select(i => (byte)(i | 1)).ToArray();
        await export.WriteAsync(1 << 20, data, fua: true, default);
        var back = new byte[65536];
        await export.ReadAsync(1 << 20, back, default);
        Assert.Equal(data, back);
        await export.FlushAsync(default);
        Assert.Equal([new NbdExtent(1 << 20, 3), new NbdExtent(65536, 0), new NbdExtent((4 << 20) - (1 << 20) - 65536, 3)],
            await Allocation(export, 0, 4 << 20));
    }

    [Fact]
    public async Task Write_zeroes_punches_a_hole_unless_no_hole_is_asked()
    {
        using var export = Create(1 << 20);
        await export.WriteAsync(0, Enumerable.Repeat((byte)9, 1 << 20).ToArray(), false, default);
        await export.WriteZeroesAsync(0, 262144, NbdZeroFlags.None, default);
        await export.WriteZeroesAsync(262144, 262144, NbdZeroFlags.NoHole | NbdZeroFlags.Fua, default);
        await export.TrimAsync(524288, 262144, fua: false, default);
        var back = new byte[786432];
        await export.ReadAsync(0, back, default);
        Assert.All(back, b => Assert.Equal(0, b));
        var extents = await Allocation(export, 0, 1 << 20);
        Assert.Equal(new NbdExtent(262144, 3), extents[0]);
        Assert.Equal(new NbdExtent(262144, 0), extents[1]);
    }

    [Fact]
    public async Task A_read_only_export_advertises_read_only()
    {
        using var export = Create(4096, readOnly: true);
        Assert.True(export.Capabilities.HasFlag(NbdExportCapabilities.ReadOnly));
        await export.CacheAsync(0, 4096, default);
    }

    [Fact]
    public void Opening_a_missing_file_is_a_domain_error()
    {
        var e = Assert.Throws<NbdException>(() => new FileExport(Path.Combine(_dir, "missing")));
        Assert.Contains("cannot open export file", e.Message);
    }
}
