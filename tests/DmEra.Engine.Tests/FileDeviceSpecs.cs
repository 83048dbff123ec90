namespace DmEra.Engine.Tests;

public sealed class FileDeviceSpecs : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("dmera-engine-origin-");

    [Fact]
    public async Task Positional_reads_writes_trims_and_zeroes_round_trip_on_one_shared_handle()
    {
        var path = Path.Combine(_dir.FullName, "origin");
        using (var f = File.Create(path)) f.SetLength(1 << 20);
        using var origin = FileDevice.Open(path);
        Assert.Equal(1 << 20, origin.SizeBytes);

        var data = Enumerable.Range(0, 8192).Select(i => (byte)(i * 7)).ToArray();
        await Task.WhenAll(Enumerable.Range(0, 16).Select(i => origin.WriteAsync(i * 8192L, data).AsTask()));
        await origin.FlushAsync();
        var back = new byte[8192];
        await origin.ReadAsync(15 * 8192L, back);
        Assert.Equal(data, back);

        await origin.TrimAsync(8192, 8192);
        await origin.WriteZeroesAsync(100, 3 << 20 >> 2);
        await origin.ReadAsync(8192, back);
        Assert.All(back, b => Assert.Equal(0, b));
        await origin.ReadAsync(0, back);
        Assert.Equal(data.AsSpan(0, 100).ToArray(), back.AsSpan(0, 100).ToArray());
        Assert.All(back.AsSpan(100).ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void A_second_opener_of_the_same_origin_is_refused()
    {
        var path = Path.Combine(_dir.FullName, "origin2");
        using (var f = File.Create(path)) f.SetLength(4096);
        using var first = FileDevice.Open(path);
        Assert.ThrowsAny<IOException>(() => FileDevice.Open(path));
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
