using System.Diagnostics;

namespace DmEra.Storage;

/// <summary>
/// Decides whether a buffered write (up to <see cref="DiskFile.InlineWriteMaxBytes"/>) may run on the caller's
/// thread. That thread is usually the socket engine's, which serves every connection, and a page-cache write
/// into a regular file costs less than the hop to the thread pool and back (fio, 4 KiB writes at QD16 on
/// ext4: about 3× the IOPS; for 1 MiB writes see DiskFile.InlineWriteMaxBytes). But a write can
/// stall (dirty-page throttling, a journal commit), and a stall there stalls every client. So the gate
/// watches each inline write: one slower than <see cref="InlineWriteSettings.SlowWrite"/> sends writes to the thread pool for a
/// while, twice as long after each further stall, and a fast inline write resets the backoff.
/// </summary>
public sealed class InlineWriteGate
{
    private readonly TimeProvider _time;
    private readonly TimeSpan _slowWrite;
    private readonly long _firstBackoff;
    private readonly long _maxBackoff;
    private long _closedUntil;
    private long _backoff;

    public InlineWriteGate() : this(new InlineWriteSettings()) { }

    public InlineWriteGate(InlineWriteSettings settings) : this(settings, TimeProvider.System) { }

    /// <summary>The clock is a parameter so that specs step it instead of sleeping (a loaded machine oversleeps).</summary>
    internal InlineWriteGate(InlineWriteSettings settings, TimeProvider time)
    {
        _time = time;
        _slowWrite = settings.SlowWrite;
        _firstBackoff = _backoff = (long)(settings.FirstBackoff.TotalSeconds * time.TimestampFrequency);
        _maxBackoff = (long)(settings.MaxBackoff.TotalSeconds * time.TimestampFrequency);
    }

    /// <summary>Inline writes run while this is true (and, for the caller's sake, only whole-page ones up to the size limit).</summary>
    public bool IsOpen => _time.GetTimestamp() >= Volatile.Read(ref _closedUntil);

    /// <summary>Stalls (inline writes slower than <see cref="InlineWriteSettings.SlowWrite"/>) seen so far.</summary>
    public long Stalls => Interlocked.Read(ref _stalls);
    private long _stalls;

    /// <summary>Reports how long an inline write took, from <see cref="Stopwatch.GetTimestamp"/> before it.</summary>
    public void Record(long startedAt)
    {
        var now = _time.GetTimestamp();
        if (_time.GetElapsedTime(startedAt, now) < _slowWrite)
        {
            if (Volatile.Read(ref _backoff) != _firstBackoff) Volatile.Write(ref _backoff, _firstBackoff);
            return;
        }
        Interlocked.Increment(ref _stalls);
        var backoff = Volatile.Read(ref _backoff);
        Volatile.Write(ref _closedUntil, now + backoff);
        Volatile.Write(ref _backoff, Math.Min(backoff * 2, _maxBackoff));
    }
}
