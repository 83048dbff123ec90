namespace DmEra.Nbd.Tests.Support;

/// <summary>An export that passes everything to another: test probes override only what they watch or hold.</summary>
internal abstract class ForwardingExport(INbdExport inner) : INbdExport
{
    protected INbdExport Inner => inner;
    public long Size => inner.Size;
    public NbdExportCapabilities Capabilities => inner.Capabilities;
    public int PreferredBlockSize => inner.PreferredBlockSize;
    public string? Description => inner.Description;
    public virtual ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) => inner.ReadAsync(offset, buffer, ct);
    public virtual ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct) => inner.WriteAsync(offset, data, fua, ct);
    public ValueTask FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
    public ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken ct) => inner.TrimAsync(offset, length, fua, ct);
    public ValueTask WriteZeroesAsync(long offset, long length, NbdZeroFlags flags, CancellationToken ct) => inner.WriteZeroesAsync(offset, length, flags, ct);
    public ValueTask CacheAsync(long offset, long length, CancellationToken ct) => inner.CacheAsync(offset, length, ct);
    public IEnumerable<string> ListMetaContexts(string query) => inner.ListMetaContexts(query);
    public INbdMetaContext? ResolveMetaContext(string name) => inner.ResolveMetaContext(name);
}
