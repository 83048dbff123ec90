namespace DmEra.Nbd;

/// <summary>What an export can do; the server advertises exactly these and refuses the rest.</summary>
[Flags]
public enum NbdExportCapabilities
{
    None = 0,
    /// <summary>Writes, trims and zeroes fail with EPERM.</summary>
    ReadOnly = 1 << 0,
    /// <summary><see cref="INbdExport.FlushAsync"/> makes every replied write durable, and writes honour FUA.</summary>
    Flush = 1 << 1,
    /// <summary><see cref="INbdExport.TrimAsync"/> does something useful (it is a hint either way).</summary>
    Trim = 1 << 2,
    /// <summary><see cref="INbdExport.WriteZeroesAsync"/> is cheaper than writing a buffer of zeroes.</summary>
    WriteZeroes = 1 << 3,
    /// <summary><see cref="INbdExport.WriteZeroesAsync"/> honours <see cref="NbdZeroFlags.FastZero"/> by failing with ENOTSUP when it would be slow.</summary>
    FastZero = 1 << 4,
    /// <summary>All connections share one cache: FLUSH on any connection covers writes replied to on every connection.</summary>
    MultiConn = 1 << 5,
    /// <summary><see cref="INbdExport.CacheAsync"/> prefetches.</summary>
    Cache = 1 << 6,
    /// <summary>Seeks are expensive (a scheduling hint for clients).</summary>
    Rotational = 1 << 7,
}

/// <summary>Flags of a write-zeroes request.</summary>
[Flags]
public enum NbdZeroFlags
{
    None = 0,
    /// <summary>The data must be durable before the call completes.</summary>
    Fua = 1 << 0,
    /// <summary>The range must stay allocated (no hole may be punched).</summary>
    NoHole = 1 << 1,
    /// <summary>Fail with <see cref="NbdError.NotSupported"/> at once if zeroing would be no faster than writing zeroes.</summary>
    FastZero = 1 << 2,
}

/// <summary>
/// The narrow boundary between the NBD protocol and whatever it serves (modelled on nbdkit's plugin
/// interface). The server validates every request against <see cref="Size"/>, the capabilities and the
/// payload limit before calling in, so implementations see only in-range, non-empty requests.
/// </summary>
/// <remarks>
/// <para>Concurrency: calls arrive concurrently, from several requests of one connection and from several
/// connections; an implementation must be safe for that. Requests in flight at the same time have no
/// order between them (the client may not rely on one); a request started after another completed
/// must observe its effects.</para>
/// <para>Durability contract: when <see cref="WriteAsync"/>, <see cref="TrimAsync"/> or
/// <see cref="WriteZeroesAsync"/> completes, the change has reached the backend and every later read on any
/// connection sees it. It need not be durable unless FUA was asked, in which case it must be on stable
/// storage before the call completes. When <see cref="FlushAsync"/> completes, every write that had completed
/// before the flush was called — on any connection, if <see cref="NbdExportCapabilities.MultiConn"/> is
/// advertised — is on stable storage.</para>
/// <para>Errors: throw <see cref="NbdException"/> to choose the error value the client sees; any other
/// exception becomes EIO. A failed request never closes the connection.</para>
/// </remarks>
public interface INbdExport
{
    /// <summary>Size in bytes; fixed for the lifetime of a connection.</summary>
    long Size { get; }

    /// <summary>What this export supports.</summary>
    NbdExportCapabilities Capabilities { get; }

    /// <summary>The I/O size that avoids read-modify-write in the backend (a power of two ≥ 512); the tracking block size for era volumes.</summary>
    int PreferredBlockSize { get; }

    /// <summary>Human-readable description for NBD_INFO_DESCRIPTION, or null.</summary>
    string? Description { get; }

    /// <summary>Fills <paramref name="buffer"/> with the bytes at <paramref name="offset"/>.</summary>
    ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>; durable on completion when <paramref name="fua"/> is set.</summary>
    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken);

    /// <summary>Makes every previously completed write durable (see the durability contract above).</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken);

    /// <summary>Hints that the range is no longer needed; its content is undefined until rewritten.</summary>
    ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken);

    /// <summary>Makes the range read as zeroes.</summary>
    ValueTask WriteZeroesAsync(long offset, long length, NbdZeroFlags flags, CancellationToken cancellationToken);

    /// <summary>Prefetch hint; must not change what reads return.</summary>
    ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken);

    /// <summary>
    /// The metadata context names this export offers that match <paramref name="query"/>, for
    /// NBD_OPT_LIST_META_CONTEXT. An empty query means all of them; a query ending in ':' means every context
    /// under that prefix; otherwise the query is a full name. Parameterised families may be listed by their
    /// prefix (e.g. "x-dm-era:written-since:") when enumerating them is not possible.
    /// </summary>
    IEnumerable<string> ListMetaContexts(string query);

    /// <summary>
    /// Resolves a full context name (e.g. "base:allocation" or "x-dm-era:written-since:5") for
    /// NBD_OPT_SET_META_CONTEXT, or returns null when the export does not offer it.
    /// </summary>
    INbdMetaContext? ResolveMetaContext(string name);
}

/// <summary>One metadata context of an export, as selected by a client for NBD_CMD_BLOCK_STATUS.</summary>
public interface INbdMetaContext
{
    /// <summary>The full context name, as the client asked for it.</summary>
    string Name { get; }

    /// <summary>
    /// Describes the range starting at <paramref name="offset"/> (in range, length ≥ 1) by adding extents to
    /// <paramref name="extents"/> in order, starting at <paramref name="offset"/>. It may stop early (at least one
    /// extent is required) and should stop when <see cref="NbdExtentList.IsFull"/>. Status bits are context-specific.
    /// </summary>
    ValueTask GetExtentsAsync(long offset, long length, NbdExtentList extents, CancellationToken cancellationToken);
}
