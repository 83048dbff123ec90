using DmEra.Nbd;
using DmEra.Nbd.Exports;
using DmEra.Storage;

namespace DmEra.Daemon;

/// <summary>
/// base:allocation for an era volume: where the origin file has holes, asked on a descriptor of its own
/// (<see cref="UnlockedHoleMap"/>: the engine holds the origin exclusively). A device or a filesystem
/// without hole support reports everything as data.
/// </summary>
public sealed class OriginAllocationContext : INbdMetaContext, IDisposable
{
    private readonly UnlockedHoleMap _holes;

    private OriginAllocationContext(UnlockedHoleMap holes) => _holes = holes;

    public string Name => NbdMetaContexts.BaseAllocation;

    /// <summary>Null when the origin cannot be opened for the query (the context is then not offered).</summary>
    public static OriginAllocationContext? TryOpen(string path, long size) =>
        UnlockedHoleMap.TryOpen(path, size) is { } holes ? new OriginAllocationContext(holes) : null;

    public ValueTask GetExtentsAsync(long offset, long length, NbdExtentList extents, CancellationToken cancellationToken)
    {
        FileAllocationMap.Describe(_holes, offset, length, extents);
        return ValueTask.CompletedTask;
    }

    public void Dispose() => _holes.Dispose();
}
