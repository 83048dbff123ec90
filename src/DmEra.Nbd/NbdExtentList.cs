namespace DmEra.Nbd;

/// <summary>One block-status extent: a length and its context-specific status bits.</summary>
public readonly record struct NbdExtent(long Length, uint Flags);

/// <summary>
/// Collects the extents of one block-status answer. Adjacent extents with equal flags are merged (the spec
/// says they SHOULD differ) and the list refuses to grow past a cap, so a backend cannot make a reply
/// exceed the limit whatever it adds.
/// </summary>
public sealed class NbdExtentList
{
    private readonly List<NbdExtent> _items = new();
    private readonly int _maxExtents;

    public NbdExtentList(int maxExtents, long requestedLength)
    {
        if (maxExtents < 1) throw new ArgumentOutOfRangeException(nameof(maxExtents));
        _maxExtents = maxExtents;
        RequestedLength = requestedLength;
    }

    /// <summary>The length the client asked about; extents past it are not needed.</summary>
    public long RequestedLength { get; }

    /// <summary>Total length of the extents added so far.</summary>
    public long CoveredLength { get; private set; }

    /// <summary>True when adding more would be wasted: the request is covered, or an extent was refused at the cap.</summary>
    public bool IsFull => CoveredLength >= RequestedLength || _refused;

    private bool _refused;

    public int Count => _items.Count;

    public NbdExtent this[int index] => _items[index];

    /// <summary>Appends an extent; returns false (and adds nothing) once <see cref="IsFull"/>.</summary>
    public bool Add(long length, uint flags)
    {
        if (length <= 0) throw new ArgumentOutOfRangeException(nameof(length), "extents must not be empty");
        if (CoveredLength >= RequestedLength) return false;
        if (_items.Count > 0 && _items[^1].Flags == flags)
        {
            _items[^1] = new NbdExtent(_items[^1].Length + length, flags);
            CoveredLength += length;
            return true;
        }
        if (_items.Count >= _maxExtents)
        {
            _refused = true;
            return false;
        }
        _items.Add(new NbdExtent(length, flags));
        CoveredLength += length;
        return true;
    }

    internal void Clear()
    {
        _items.Clear();
        CoveredLength = 0;
        _refused = false;
    }
}
