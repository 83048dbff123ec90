namespace DmEra.Testing;

/// <summary>
/// The faults a test device injects, in one place for the engine specs' and the crash suite's recording
/// devices: an EIO on chosen writes or on every flush (what pwrite(2)/fdatasync(2) may return), a flush held
/// at a gate (a commit kept "in flight"), a slow flush (widens the window between "bits written" and
/// "commit durable", the dm-delay trick of the 2021 reproducer) and, for harness self-tests, a flush that
/// lies (returns without making anything durable). A device calls <see cref="BeforeWrite"/> before it
/// records a write and <see cref="BeforeFlush"/> before it records a flush.
/// </summary>
public sealed class DeviceFaults
{
    private int _flushesStarted;

    /// <summary>Throws an injected EIO for a write at a position (block or byte offset) this returns true for.</summary>
    public Func<long, bool>? FailWrite { get; set; }

    /// <summary>Every flush throws an injected EIO while true.</summary>
    public bool FailFlush { get; set; }

    /// <summary>When set, each flush waits for this gate first.</summary>
    public SemaphoreSlim? FlushGate { get; set; }

    /// <summary>Milliseconds to sleep before each flush (0 or less: none).</summary>
    public Func<int>? FlushDelayMs { get; set; }

    /// <summary>Flushes return at once and make nothing durable (the harness must notice).</summary>
    public bool FlushIsALie { get; set; }

    /// <summary>Flushes begun so far, counted before the gate (so a test sees a commit reach its flush).</summary>
    public int FlushesStarted => Volatile.Read(ref _flushesStarted);

    /// <summary>Throws the injected EIO if this write is to fail.</summary>
    public void BeforeWrite(long position, string device)
    {
        if (FailWrite?.Invoke(position) == true) throw new IOException($"injected EIO writing {device} at {position}");
    }

    /// <summary>Counts, holds, delays or fails the flush; false when the flush lies and must record nothing.</summary>
    public bool BeforeFlush(string device)
    {
        Interlocked.Increment(ref _flushesStarted);
        FlushGate?.Wait();
        if (FlushDelayMs?.Invoke() is > 0 and var ms) Thread.Sleep(ms);
        if (FailFlush) throw new IOException($"injected EIO on {device} flush");
        return !FlushIsALie;
    }
}
