using System.Collections.Concurrent;
using DmEra.Daemon;
using DmEra.Engine;
using Microsoft.Extensions.Logging;

namespace DmEra.Fleet;

/// <summary>
/// This daemon's volumes as the fleet sees them: all it serves except those withdrawn because another
/// member already serves a volume of that name. Outlives the fleet actor system (which is re-created
/// after this node is downed), so a withdrawal stays until the daemon restarts.
/// </summary>
public sealed class FleetVolumes(VolumeHost host, Action<string> unexport, ILogger log)
{
    private readonly ConcurrentDictionary<string, string> _withdrawn = new(StringComparer.Ordinal);

    public VolumeHost Host => host;

    public IReadOnlyList<string> Names => host.VolumeNames.Where(n => !_withdrawn.ContainsKey(n)).ToList();

    public bool IsLocal(string name) => !_withdrawn.ContainsKey(name) && host.VolumeNames.Contains(name);

    public IEraVolume? TryGetLocal(string name) =>
        IsLocal(name) ? host.Served.FirstOrDefault(v => v.Spec.Name == name)?.Volume : null;

    /// <summary>Another member, older in the fleet, serves <paramref name="name"/> too: this one stops being exported.</summary>
    public void Withdraw(string name, string otherNode)
    {
        if (!_withdrawn.TryAdd(name, otherNode)) return;
        unexport(name);
        log.LogError("volume {Name}: node {Node} already serves a volume of this name in the fleet (names are unique across the fleet): not exported here; rename it or serve it from one node, then restart this daemon",
            name, otherNode);
    }

    public bool TryEnterGroup() => host.GroupLock.Wait(0);
    public void ExitGroup() => host.GroupLock.Release();
}
