#nullable enable
namespace DmEra.Nbd.Exports;

/// <summary>
/// A fixed set of contexts with fixed names, for exports whose contexts are not parameterised. Exports with
/// parameterised families (x-dm-era:written-since:N) implement the two lookups themselves.
/// </summary>
public sealed class MetaContextSet
{
    private readonly Dictionary<string, INbdMetaContext> _byName;

    public MetaContextSet(params INbdMetaContext[] contexts) =>
        _byName = contexts.ToDictionary(c => c.Name, StringComparer.Ordinal);

    public IEnumerable<string> List(string query) =>
        _byName.Keys.Where(n => NbdMetaContexts.Matches(query, n)).OrderBy(n => n, StringComparer.Ordinal);

    public INbdMetaContext? Resolve(string name) => _byName.GetValueOrDefault(name);
}

/// <summary>A context whose extents come from a delegate; handy for exports and tests.</summary>
public sealed class DelegateMetaContext : INbdMetaContext
{
    private readonly Func<long, long, NbdExtentList, CancellationToken, ValueTask> _getExtents;

    public DelegateMetaContext(string name, Func<long, long, NbdExtentList, CancellationToken, ValueTask> getExtents)
    {
        Name = name;
        _getExtents = getExtents;
    }

    public string Name { get; }

    public ValueTask GetExtentsAsync(long offset, long length, NbdExtentList extents, CancellationToken cancellationToken) =>
        _getExtents(offset, length, extents, cancellationToken);
}
