namespace DmEra.Crash.Tests.Trace;

/// <summary>
/// The global, totally ordered trace of one recorded workload. <see cref="Gate"/> is the one lock every
/// recording device and the client take, so the order of entries is the order things happened in.
/// Frozen before the actor system goes away: afterwards nothing is appended (a shutdown's final commit
/// must not look like something a crash could have kept).
/// </summary>
public sealed class IoTrace
{
    private readonly List<TraceEvent> _events = new();
    private long _nextId = 1;

    public object Gate { get; } = new();
    public bool IsFrozen { get; private set; }

    public long NewId()
    {
        lock (Gate) return _nextId++;
    }

    /// <summary>Appends an event built from its sequence number; returns it (or null once frozen).</summary>
    public TraceEvent? Add(Func<long, TraceEvent> build)
    {
        lock (Gate)
        {
            if (IsFrozen) return null;
            var e = build(_events.Count);
            _events.Add(e);
            return e;
        }
    }

    public void Freeze()
    {
        lock (Gate) IsFrozen = true;
    }

    public IReadOnlyList<TraceEvent> Events
    {
        get { lock (Gate) return _events.ToArray(); }
    }
}
