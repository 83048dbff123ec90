namespace DmEra.Engine.Tracking;

/// <summary>
/// What the request path needs to know without asking an actor: the in-core writeset of the current era,
/// and whether metadata has failed. The two bitsets are preallocated at activation (kernel: "the allocation
/// is done at preresume time, rather than on the io path"); a new era swaps them by one reference write.
/// Only the metadata writer changes anything here.
/// </summary>
public sealed class EraTracker
{
    private InCoreWriteset _current;
    private InCoreWriteset _spare;
    private Exception? _failure;
    private uint _currentEra;

    public EraTracker(uint nrBlocks, uint currentEra)
    {
        _current = new InCoreWriteset(nrBlocks);
        _spare = new InCoreWriteset(nrBlocks);
        _currentEra = currentEra;
    }

    /// <summary>The tracking history's identity (<c>EraMetadata.TrackingId</c>), fixed while the volume runs.</summary>
    public byte[] TrackingId { get; init; } = new byte[16];

    /// <summary>The current era's bits. Read once per request: the reference can change between two reads.</summary>
    public InCoreWriteset Current => Volatile.Read(ref _current);

    /// <summary>Published after the bitset swap: whoever reads era N+1 here then reads era N+1's bits.</summary>
    public uint CurrentEra => Volatile.Read(ref _currentEra);

    /// <summary>The metadata error that failed the volume, or null.</summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    /// <summary>
    /// After the commit that started era <paramref name="era"/>: the zeroed spare becomes current. A request
    /// that read the old set just before still counts in the old era, whose bits are all durable (the same cut
    /// the kernel's RCU swap gives). The retired set is zeroed at the next swap, never while current.
    /// </summary>
    internal void StartEra(uint era)
    {
        var fresh = _spare;
        fresh.Clear();
        _spare = Volatile.Read(ref _current);
        Volatile.Write(ref _current, fresh);
        Volatile.Write(ref _currentEra, era);
    }

    internal void Fail(Exception failure) => Interlocked.CompareExchange(ref _failure, failure, null);
}
