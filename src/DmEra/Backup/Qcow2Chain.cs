namespace DmEra.Backup;

/// <summary>
/// A backing chain of points, base first: reads the guest contents as the top point shows them
/// (each cluster from the newest layer that holds it; zeros where none does), as qemu does.
/// </summary>
public sealed class Qcow2Chain : IDisposable
{
    private readonly List<Qcow2Image> _layers;

    public Qcow2Chain(IEnumerable<string> pathsBaseFirst)
    {
        _layers = [];
        try
        {
            foreach (var p in pathsBaseFirst) _layers.Add(Qcow2Image.Open(p));
        }
        catch
        {
            Dispose();
            throw;
        }
        if (_layers.Count == 0) throw new ArgumentException("a chain holds at least one point");
        VirtualSize = _layers[^1].VirtualSize;
        Unit = _layers.Min(l => l.ClusterSize);
    }

    public long VirtualSize { get; }

    /// <summary>The granularity of a read: the smallest cluster in the chain, so one unit lies within one cluster of every layer.</summary>
    public int Unit { get; }

    /// <summary>
    /// Fills <paramref name="buffer"/> (at most one <see cref="Unit"/>, unit-aligned) with the guest data at
    /// <paramref name="offset"/>; returns false, leaving the buffer untouched, when those bytes read as zeros.
    /// </summary>
    public bool Read(long offset, Span<byte> buffer)
    {
        for (var i = _layers.Count - 1; i >= 0; i--)
        {
            var layer = _layers[i];
            if (offset >= layer.VirtualSize) return false;
            var (kind, host) = layer.Lookup(offset);
            switch (kind)
            {
                case Qcow2Image.Mapping.Zero:
                    return false;
                case Qcow2Image.Mapping.Data:
                    layer.ReadData(host, buffer);
                    return true;
            }
        }
        return false;
    }

    public void Dispose()
    {
        foreach (var l in _layers) l.Dispose();
    }
}
