using DmEra.Nbd.Exports;
using Xunit;

namespace DmEra.Nbd.Tests.Exports;

public sealed class MemoryExportTests
{
    [Fact]
    public async Task Writes_across_page_boundaries_read_back()
    {
        var export = new MemoryExport(1 << 20);
        var data = Enumerable.Range(0, 200_000).Select(i => (byte)(i * 13)).ToArray();
        await export.WriteAsync(MemoryExport.PageSize - 7, data, false, default);
        var back = new byte[data.Length];
        await export.ReadAsync(MemoryExport.PageSize - 7, back, default);
        Assert.Equal(data, back);
        Assert.Equal(5 * MemoryExport.PageSize, export.AllocatedBytes);
    }

    [Fact]
    public async Task Partial_page_trim_zeroes_without_freeing_and_whole_page_trim_frees()
    {
        var export = new MemoryExport(4 * MemoryExport.PageSize);
        await export.WriteAsync(0, Enumerable.Repeat((byte)1, 2 * MemoryExport.PageSize).ToArray(), false, default);
        await export.TrimAsync(100, 200, false, default);
        Assert.Equal(2 * MemoryExport.PageSize, export.AllocatedBytes);
        await export.TrimAsync(MemoryExport.PageSize, MemoryExport.PageSize, false, default);
        Assert.Equal(MemoryExport.PageSize, export.AllocatedBytes);
        var back = new byte[400];
        await export.ReadAsync(0, back, default);
        Assert.Equal(1, back[99]);
        Assert.All(back[100..300], b => Assert.Equal(0, b));
        Assert.Equal(1, back[300]);
    }

    [Fact]
    public void Sizes_beyond_the_page_table_limit_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryExport(MemoryExport.MaxSize + 1));
    }
}
