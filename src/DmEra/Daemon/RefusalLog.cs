using Microsoft.Extensions.Logging;

namespace DmEra.Daemon;

/// <summary>
/// Requests a volume refuses because it failed (metadata failure: writes; origin fdatasync failure:
/// flushes): the cause is logged once, then only counted — the health log reports the counts each interval
/// and the stop their total. One stack trace per refused write once made 65 MB of log for 32,769 writes.
/// </summary>
public sealed class RefusalLog
{
    private readonly object _lock = new();
    private readonly Dictionary<string, (long Total, long Reported, string Cause)> _kinds = new(StringComparer.Ordinal);

    /// <summary>Counts one refused request of <paramref name="kind"/> ("writes", "flushes"); the first of each kind is logged.</summary>
    public void Record(string kind, Exception cause, ILogger log, string volume)
    {
        bool first;
        lock (_lock)
        {
            first = !_kinds.TryGetValue(kind, out var k);
            _kinds[kind] = (k.Total + 1, k.Reported, first ? cause.Message : k.Cause);
        }
        if (first)
            log.LogError("volume {Name} refuses {Kind}: {Cause} (further refusals are counted, not logged)", volume, kind, cause.Message);
    }

    /// <summary>Total refusals of <paramref name="kind"/> so far.</summary>
    public long Count(string kind)
    {
        lock (_lock) return _kinds.TryGetValue(kind, out var k) ? k.Total : 0;
    }

    /// <summary>Logs the refusals counted since the last report, if any (the health log's interval).</summary>
    public void LogSinceLastReport(ILogger log, string volume)
    {
        foreach (var (kind, total, since) in TakeUnreported())
            log.LogWarning("volume {Name}: {Count} {Kind} refused since the last report ({Total} in all)", volume, since, kind, total);
    }

    /// <summary>Logs the total of each kind, at stop.</summary>
    public void LogTotal(ILogger log, string volume)
    {
        List<(string Kind, long Total, string Cause)> all;
        lock (_lock) all = _kinds.Select(k => (k.Key, k.Value.Total, k.Value.Cause)).ToList();
        foreach (var (kind, total, cause) in all)
            log.LogWarning("volume {Name}: {Total} {Kind} refused in all: {Cause}", volume, total, kind, cause);
    }

    private List<(string Kind, long Total, long Since)> TakeUnreported()
    {
        lock (_lock)
        {
            var due = _kinds.Where(k => k.Value.Total > k.Value.Reported).Select(k => (k.Key, k.Value.Total, k.Value.Total - k.Value.Reported)).ToList();
            foreach (var (kind, total, _) in due) _kinds[kind] = _kinds[kind] with { Reported = total };
            return due;
        }
    }
}
