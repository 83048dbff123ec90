namespace DmEra.Nbd;

/// <summary>
/// The connections still in the handshake, oldest first, at most <c>max</c> of them: entering a full budget
/// closes the one that has waited longest (<see cref="NbdServerLimits.MaxHandshakingConnections"/>).
/// A connection leaves when its handshake succeeds or it ends.
/// </summary>
internal sealed class HandshakeBudget(int max)
{
    private readonly LinkedList<(long Id, Action Close)> _waiting = new();
    private readonly Dictionary<long, LinkedListNode<(long Id, Action Close)>> _byId = new();

    /// <summary>Admits connection <paramref name="id"/>; <paramref name="close"/> runs if it is evicted while still in the handshake. True when one was evicted.</summary>
    public bool Enter(long id, Action close)
    {
        Action? evict = null;
        lock (_waiting)
        {
            if (_waiting.Count >= max && _waiting.First is { } first)
            {
                evict = first.Value.Close;
                _byId.Remove(first.Value.Id);
                _waiting.RemoveFirst();
            }
            _byId[id] = _waiting.AddLast((id, close));
        }
        evict?.Invoke();
        return evict is not null;
    }

    /// <summary>The handshake is over (succeeded, or the connection ended); idempotent.</summary>
    public void Leave(long id)
    {
        lock (_waiting)
            if (_byId.Remove(id, out var node)) _waiting.Remove(node);
    }
}
