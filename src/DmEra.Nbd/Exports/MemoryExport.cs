namespace DmEra.Nbd.Exports;

/// <summary>
/// A sparse in-memory export: pages are allocated on first write and dropped by trim and write-zeroes, so
/// base:allocation reports real holes. Thread-safe; concurrent writes to one range land in some order,
/// as the protocol allows. Nothing is durable, so FLUSH and FUA are no-ops that succeed.
/// </summary>
public sealed class MemoryExport : INbdExport
{
    /// <summary>Allocation unit: small enough that 4 KiB-random workloads stay sparse-ish, big enough that the page table stays small.</summary>
    public const int PageSize = 64 * 1024;

    /// <summary>The page table is one array; this keeps it under 256 MiB of references (1 TiB of address space).</summary>
    public const long MaxSize = 1L << 40;

    private readonly byte[]?[] _pages;
    private readonly MetaContextSet _contexts;

    public MemoryExport(long size, bool readOnly = false, int preferredBlockSize = 4096, string? description = null)
    {
        if (size < 0 || size > MaxSize) throw new ArgumentOutOfRangeException(nameof(size), $"a memory export holds 0..{MaxSize} bytes");
        Size = size;
        _pages = new byte[]?[(size + PageSize - 1) / PageSize];
        PreferredBlockSize = preferredBlockSize;
        Description = description;
        Capabilities = NbdExportCapabilityDefaults.Storage(readOnly);
        _contexts = new MetaContextSet(new DelegateMetaContext(NbdMetaContexts.BaseAllocation, GetAllocationAsync));
    }

    public long Size { get; }
    public NbdExportCapabilities Capabilities { get; }
    public int PreferredBlockSize { get; }
    public string? Description { get; }

    /// <summary>Bytes of pages currently allocated (for tests of sparseness).</summary>
    public long AllocatedBytes => _pages.Count(p => p is not null) * (long)PageSize;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var dest = buffer.Span;
        while (!dest.IsEmpty)
        {
            var (index, within, take) = Locate(offset, dest.Length);
            var page = Volatile.Read(ref _pages[index]);
            if (page is null) dest[..take].Clear();
            else page.AsSpan(within, take).CopyTo(dest);
            dest = dest[take..];
            offset += take;
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>Copies bytes in without going through the protocol (test setup).</summary>
    public void Load(long offset, ReadOnlySpan<byte> data) => WriteSpan(offset, data);

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken)
    {
        WriteSpan(offset, data.Span);
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken)
    {
        Zero(offset, length, punch: true);
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteZeroesAsync(long offset, long length, NbdZeroFlags flags, CancellationToken cancellationToken)
    {
        Zero(offset, length, punch: (flags & NbdZeroFlags.NoHole) == 0);
        return ValueTask.CompletedTask;
    }

    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public IEnumerable<string> ListMetaContexts(string query) => _contexts.List(query);

    public INbdMetaContext? ResolveMetaContext(string name) => _contexts.Resolve(name);

    private ValueTask GetAllocationAsync(long offset, long length, NbdExtentList extents, CancellationToken cancellationToken)
    {
        long end = Math.Min(Size, offset + length);
        while (offset < end && !extents.IsFull)
        {
            var (index, within, _) = Locate(offset, 0);
            long take = Math.Min(PageSize - within, end - offset);
            bool hole = Volatile.Read(ref _pages[index]) is null;
            extents.Add(take, hole ? NbdMetaContexts.StateHole | NbdMetaContexts.StateZero : 0);
            offset += take;
        }
        return ValueTask.CompletedTask;
    }

    private void WriteSpan(long offset, ReadOnlySpan<byte> src)
    {
        while (!src.IsEmpty)
        {
            var (index, within, take) = Locate(offset, src.Length);
            src[..take].CopyTo(PageFor(index).AsSpan(within, take));
            src = src[take..];
            offset += take;
        }
    }

    private void Zero(long offset, long length, bool punch)
    {
        long end = offset + length;
        while (offset < end)
        {
            var (index, within, _) = Locate(offset, 0);
            int take = (int)Math.Min(PageSize - within, end - offset);
            var page = Volatile.Read(ref _pages[index]);
            if (page is not null)
            {
                // A whole page may go back to being a hole unless the client asked to keep it allocated.
                if (punch && take == PageSize) Volatile.Write(ref _pages[index], null);
                else page.AsSpan(within, take).Clear();
            }
            else if (!punch)
            {
                PageFor(index);
            }
            offset += take;
        }
    }

    private byte[] PageFor(long index)
    {
        var page = Volatile.Read(ref _pages[index]);
        if (page is not null) return page;
        var fresh = new byte[PageSize];
        return Interlocked.CompareExchange(ref _pages[index], fresh, null) ?? fresh;
    }

    private static (long Index, int Within, int Take) Locate(long offset, int want)
    {
        long index = offset / PageSize;
        int within = (int)(offset % PageSize);
        return (index, within, Math.Min(PageSize - within, want));
    }
}
