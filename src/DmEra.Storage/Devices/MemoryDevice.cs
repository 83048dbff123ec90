namespace DmEra.Storage.Devices;

/// <summary>
/// A device in memory (tests, benchmarks, metadata images built before they are written out), kept in
/// 4 KiB pages made at their first write, so a large device costs only what was written. Concurrent I/O to
/// disjoint ranges is safe, as on a disk. Flushes do nothing: nothing here outlives the process anyway.
/// </summary>
public sealed class MemoryDevice : IBlockDevice
{
    public const int PageSize = 4096;
    private readonly byte[]?[] _pages;

    public MemoryDevice(long sizeBytes)
    {
        if (sizeBytes <= 0 || sizeBytes / PageSize >= int.MaxValue) throw new ArgumentOutOfRangeException(nameof(sizeBytes));
        SizeBytes = sizeBytes;
        _pages = new byte[(sizeBytes + PageSize - 1) / PageSize][];
    }

    /// <summary>A device holding a copy of <paramref name="pages"/> (4 KiB each, null reads as zeroes).</summary>
    public MemoryDevice(byte[]?[] pages) : this(pages.LongLength * PageSize, pages) { }

    private MemoryDevice(long sizeBytes, byte[]?[] pages) : this(sizeBytes)
    {
        for (var i = 0; i < pages.Length; i++)
            if (pages[i] is { } page) _pages[i] = (byte[])page.Clone();
    }

    /// <summary>A device of <paramref name="contents"/>' size holding a copy of them (pages of zeroes stay unmade).</summary>
    public static MemoryDevice Holding(ReadOnlySpan<byte> contents)
    {
        var device = new MemoryDevice(contents.Length);
        for (var at = 0; at < contents.Length; at += PageSize)
        {
            var page = contents.Slice(at, Math.Min(PageSize, contents.Length - at));
            if (page.ContainsAnyExcept((byte)0)) device.Write(at, page);
        }
        return device;
    }

    public long SizeBytes { get; }

    /// <summary>The byte at <paramref name="offset"/> now (specs compare a backup view's reads with it).</summary>
    public byte this[long offset] => _pages[offset / PageSize] is { } page ? page[offset % PageSize] : (byte)0;

    public void Read(long offset, Span<byte> buffer)
    {
        Check(offset, buffer.Length);
        while (!buffer.IsEmpty)
        {
            var at = (int)(offset % PageSize);
            var n = Math.Min(buffer.Length, PageSize - at);
            if (Volatile.Read(ref _pages[offset / PageSize]) is { } page) page.AsSpan(at, n).CopyTo(buffer);
            else buffer[..n].Clear();
            buffer = buffer[n..];
            offset += n;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        Check(offset, data.Length);
        while (!data.IsEmpty)
        {
            var at = (int)(offset % PageSize);
            var n = Math.Min(data.Length, PageSize - at);
            data[..n].CopyTo(Page(offset / PageSize).AsSpan(at));
            data = data[n..];
            offset += n;
        }
    }

    public void Flush() { }

    public ValueTask WriteZeroesAsync(long offset, long length)
    {
        Check(offset, length);
        for (var end = offset + length; offset < end;)
        {
            var at = (int)(offset % PageSize);
            var n = (int)Math.Min(end - offset, PageSize - at);
            Volatile.Read(ref _pages[offset / PageSize])?.AsSpan(at, n).Clear();
            offset += n;
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>A copy of the device's contents now, as a crash right now would leave them.</summary>
    public MemoryDevice Clone() => new(SizeBytes, _pages);

    public void Dispose() { }

    /// <summary>The page, made on first write; two writers racing to make it keep the same one.</summary>
    private byte[] Page(long index) =>
        Volatile.Read(ref _pages[index]) ?? Interlocked.CompareExchange(ref _pages[index], new byte[PageSize], null) ?? _pages[index]!;

    private void Check(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset + length > SizeBytes)
            throw new ArgumentOutOfRangeException(nameof(offset), $"bytes [{offset}, {offset + length}) are beyond the end of the device ({SizeBytes} bytes)");
    }
}
