using System.Collections.Concurrent;

namespace DmEra.Nbd;

/// <summary>The exports a server offers, by name. "" names the default export.</summary>
public interface INbdExportCatalog
{
    /// <summary>Names for NBD_OPT_LIST, in a stable order.</summary>
    IReadOnlyList<string> ListExportNames();

    /// <summary>The export called <paramref name="name"/>, or null (the client then gets ERR_UNKNOWN).</summary>
    INbdExport? Find(string name);
}

/// <summary>A thread-safe, mutable catalog: exports can be added and removed while the server runs.</summary>
public sealed class NbdExportCatalog : INbdExportCatalog
{
    private readonly ConcurrentDictionary<string, INbdExport> _exports = new(StringComparer.Ordinal);

    /// <summary>The export served when a client asks for "" (null: the empty name is unknown).</summary>
    public string? DefaultExportName { get; set; }

    public NbdExportCatalog Add(string name, INbdExport export)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(export);
        if (!_exports.TryAdd(name, export)) throw new ArgumentException($"an export named '{name}' already exists", nameof(name));
        DefaultExportName ??= name;
        return this;
    }

    public bool Remove(string name) => _exports.TryRemove(name, out _);

    public IReadOnlyList<string> ListExportNames() => _exports.Keys.OrderBy(n => n, StringComparer.Ordinal).ToArray();

    public INbdExport? Find(string name)
    {
        if (_exports.TryGetValue(name, out var export)) return export;
        if (name.Length == 0 && DefaultExportName is { } d && _exports.TryGetValue(d, out export)) return export;
        return null;
    }
}
