namespace DmEra.Storage.Tests;

public sealed class DiskFileTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("dmera-storage-");

    private string NewFile(string directory, long size)
    {
        var path = Path.Combine(directory, Guid.NewGuid().ToString("N"));
        using (var f = File.Create(path)) f.SetLength(size);
        return path;
    }

    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    public static TheoryData<string> Directories()
    {
        var dirs = new TheoryData<string> { "disk" };
        if (Directory.Exists("/dev/shm")) dirs.Add("/dev/shm");
        return dirs;
    }

    [Theory]
    [MemberData(nameof(Directories))]
    public async Task Every_write_path_reads_back_whatever_the_size_and_alignment(string where)
    {
        var dir = where == "disk" ? _dir.FullName : Directory.CreateDirectory(Path.Combine(where, "dmera-storage-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            using var file = DiskFile.Open(NewFile(dir, 8 << 20), writable: true, FileShare.None);
            if (where == "/dev/shm") Assert.True(file.IsTmpfs);
            // Whole pages (inline where the gate allows), a partial page, an unaligned one, one too big for the
            // inline path, and an unaligned one of several pieces, written concurrently to disjoint places.
            var cases = new (long Offset, byte[] Data)[]
            {
                (0, Pattern(4096, 1)),
                (64 * 1024, Pattern(DiskFile.InlineWriteMaxBytes, 2)),
                ((2 << 20) + 100, Pattern(1000, 3)),
                ((2 << 20) + 512 * 1024 + 4096, Pattern(3 * 4096 + 17, 4)),
                (3 << 20, Pattern(DiskFile.InlineWriteMaxBytes + 4096, 5)),
                ((5 << 20) + 100, Pattern(2 * DiskFile.WritePieceBytes + 300, 6)),
            };
            await Task.WhenAll(cases.Select(c => file.WriteAsync(c.Offset, c.Data).AsTask()));
            await file.FlushAsync();
            foreach (var (offset, data) in cases)
            {
                var back = new byte[data.Length];
                await file.ReadAsync(offset, back);
                Assert.Equal(data, back);
            }
            Assert.True(file.Flushes >= 1);
        }
        finally
        {
            if (where != "disk") Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Reads_not_in_the_page_cache_and_reads_past_the_end_are_correct()
    {
        var path = NewFile(_dir.FullName, 1 << 20);
        var data = Pattern(1 << 20, 7);
        File.WriteAllBytes(path, data);
        using var file = DiskFile.Open(path, writable: false, FileShare.ReadWrite);
        // Drop the file from the page cache so RWF_NOWAIT reads must fall back to the thread pool.
        using (var h = File.OpenHandle(path)) Mono.Unix.Native.Syscall.posix_fadvise((int)h.DangerousGetHandle(), 0, 0, Mono.Unix.Native.PosixFadviseAdvice.POSIX_FADV_DONTNEED);
        var back = new byte[256 * 1024];
        await file.ReadAsync(300 * 1024, back);
        Assert.Equal(data.AsSpan(300 * 1024, back.Length).ToArray(), back);

        // The last 4 KiB of the file and 4 KiB past its end (a file that shrank under a reader): zeroes, not stale bytes.
        var tail = Enumerable.Repeat((byte)0xAA, 8192).ToArray();
        await file.ReadAsync((1 << 20) - 4096, tail);
        Assert.Equal(data.AsSpan((1 << 20) - 4096).ToArray(), tail.AsSpan(0, 4096).ToArray());
        Assert.All(tail.AsSpan(4096).ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Holes_zero_ranges_and_zero_buffers_read_back_as_zeroes_and_map_as_holes()
    {
        using var file = DiskFile.Open(NewFile(_dir.FullName, 4 << 20), writable: true, FileShare.None);
        await file.WriteAsync(0, Pattern(4 << 20, 9));
        await file.FlushAsync();
        Assert.True(file.TryPunchHole(1 << 20, 1 << 20));   // ext4 and tmpfs both punch
        Assert.True(file.TryZeroRange(2 << 20, 4096));
        await file.WriteZeroBuffersAsync((3 << 20) + 10, 5000);
        var back = new byte[4 << 20];
        await file.ReadAsync(0, back);
        Assert.All(back.AsSpan(1 << 20, (1 << 20) + 4096).ToArray(), b => Assert.Equal(0, b));
        Assert.All(back.AsSpan((3 << 20) + 10, 5000).ToArray(), b => Assert.Equal(0, b));
        Assert.NotEqual(0, back[(3 << 20) + 9]);
        Assert.Equal(1 << 20, file.NextHole(0));
        Assert.Equal(2 << 20, file.NextData(1 << 20));
    }

    [Fact]
    public void A_second_exclusive_opener_is_refused()
    {
        var path = NewFile(_dir.FullName, 4096);
        using var first = DiskFile.Open(path, writable: true, FileShare.None);
        Assert.ThrowsAny<IOException>(() => DiskFile.Open(path, writable: true, FileShare.None));
        using var holes = UnlockedHoleMap.TryOpen(path, 4096);
        Assert.NotNull(holes);   // hole queries are not locked out
        Assert.Equal(-1, holes!.NextData(0));
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
