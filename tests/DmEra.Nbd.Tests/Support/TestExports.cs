using DmEra.Nbd.Exports;

namespace DmEra.Nbd.Tests.Support;

/// <summary>
/// Wraps an export and holds every operation on a gate until the test opens it, counting how many wait at
/// once: the probe for out-of-order replies and in-flight limits.
/// </summary>
internal sealed class GatedExport : ForwardingExport
{
    private readonly Func<long, bool> _holds;
    private TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _waiting;
    private int _maxWaiting;

    /// <param name="holds">Which offsets are held at the gate (others pass straight through).</param>
    public GatedExport(INbdExport inner, Func<long, bool> holds) : base(inner)
    {
        _holds = holds;
    }

    public int Waiting => Volatile.Read(ref _waiting);
    public int MaxWaiting => Volatile.Read(ref _maxWaiting);
    public void Open() => _gate.TrySetResult();

    private async ValueTask PassAsync(long offset, CancellationToken ct)
    {
        if (!_holds(offset)) return;
        int now = Interlocked.Increment(ref _waiting);
        int seen;
        while (now > (seen = Volatile.Read(ref _maxWaiting)) && Interlocked.CompareExchange(ref _maxWaiting, now, seen) != seen) { }
        try { await _gate.Task.WaitAsync(TimeSpan.FromSeconds(15), ct); }
        finally { Interlocked.Decrement(ref _waiting); }
    }

    public override async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) { await PassAsync(offset, ct); await Inner.ReadAsync(offset, buffer, ct); }
    public override async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct) { await PassAsync(offset, ct); await Inner.WriteAsync(offset, data, fua, ct); }
}

/// <summary>
/// A memory export with a synthetic era map (one era per tracking block), offering the era contexts the
/// engine will provide: <c>x-dm-era:era</c> (flags = era of the block) and <c>x-dm-era:written-since:N</c>
/// (flag 1 when the block's era ≥ N). Stands in for the engine in interop tests.
/// </summary>
internal sealed class SyntheticEraExport : INbdExport
{
    public const string EraContext = "x-dm-era:era";
    public const string WrittenSincePrefix = "x-dm-era:written-since:";

    private readonly MemoryExport _data;
    private readonly uint[] _eras;

    public SyntheticEraExport(long size, int blockSize, Func<long, uint> eraOfBlock)
    {
        _data = new MemoryExport(size, preferredBlockSize: blockSize);
        BlockSize = blockSize;
        _eras = new uint[(size + blockSize - 1) / blockSize];
        for (long b = 0; b < _eras.Length; b++) _eras[b] = eraOfBlock(b);
    }

    public int BlockSize { get; }
    public uint EraOf(long block) => _eras[block];
    public long Size => _data.Size;
    public NbdExportCapabilities Capabilities => _data.Capabilities;
    public int PreferredBlockSize => BlockSize;
    public string? Description => "synthetic era test export";
    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) => _data.ReadAsync(offset, buffer, ct);
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct) => _data.WriteAsync(offset, data, fua, ct);
    public ValueTask FlushAsync(CancellationToken ct) => _data.FlushAsync(ct);
    public ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken ct) => _data.TrimAsync(offset, length, fua, ct);
    public ValueTask WriteZeroesAsync(long offset, long length, NbdZeroFlags flags, CancellationToken ct) => _data.WriteZeroesAsync(offset, length, flags, ct);
    public ValueTask CacheAsync(long offset, long length, CancellationToken ct) => _data.CacheAsync(offset, length, ct);

    public IEnumerable<string> ListMetaContexts(string query)
    {
        foreach (var name in new[] { NbdMetaContexts.BaseAllocation, EraContext, WrittenSincePrefix })
            if (NbdMetaContexts.Matches(query, name)) yield return name;
        // A full written-since name is listed when asked for by name (the family cannot be enumerated).
        if (query.StartsWith(WrittenSincePrefix, StringComparison.Ordinal) && query.Length > WrittenSincePrefix.Length && ResolveMetaContext(query) is not null)
            yield return query;
    }

    public INbdMetaContext? ResolveMetaContext(string name)
    {
        if (name == NbdMetaContexts.BaseAllocation) return _data.ResolveMetaContext(name);
        if (name == EraContext) return new DelegateMetaContext(name, (o, l, x, _) => Describe(o, l, x, era => era));
        if (name.StartsWith(WrittenSincePrefix, StringComparison.Ordinal)
            && uint.TryParse(name.AsSpan(WrittenSincePrefix.Length), System.Globalization.NumberStyles.None, null, out uint since))
            return new DelegateMetaContext(name, (o, l, x, _) => Describe(o, l, x, era => era >= since ? 1u : 0u));
        return null;
    }

    private ValueTask Describe(long offset, long length, NbdExtentList extents, Func<uint, uint> flagsOf)
    {
        long end = Math.Min(Size, offset + length);
        while (offset < end && !extents.IsFull)
        {
            long block = offset / BlockSize;
            long next = Math.Min((block + 1) * BlockSize, end);
            extents.Add(next - offset, flagsOf(_eras[block]));
            offset = next;
        }
        return ValueTask.CompletedTask;
    }
}
