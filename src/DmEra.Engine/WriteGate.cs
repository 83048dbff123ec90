namespace DmEra.Engine;

/// <summary>
/// The volume's one gate: every request passes it once, so it alone counts what is in flight. Reads always
/// pass; writes (trims, write-zeroes) wait while the gate is held. A hold (a group checkpoint; later the
/// backup view's instant) stops new writes and waits for every request inside, so the era boundary falls at
/// one instant; a stop refuses everything new and waits likewise. Passing an open gate is one interlocked
/// increment and a volatile read or two: no lock, no allocation on the I/O path.
/// </summary>
public sealed class WriteGate(string volume)
{
    private readonly List<TaskCompletionSource> _emptyWaiters = new();
    private int _inside;
    private long _lastEntry;   // Environment.TickCount64 of the latest entry: written only when it changed
    private int _stopping;   // 0/1, set with a full fence: the flag must be visible before the count is read
    private TaskCompletionSource? _held;

    public bool IsStopping => Volatile.Read(ref _stopping) != 0;

    /// <summary>
    /// Whether the live volume is in use: a request is inside now (a written-back write until it is on the
    /// origin) or one entered within the last <paramref name="withinMs"/> ms. The second half matters at low
    /// queue depth, where a busy client's next request is often still on its way when the last has left.
    /// </summary>
    public bool IsBusy(long withinMs) =>
        Volatile.Read(ref _inside) != 0 || Environment.TickCount64 - Volatile.Read(ref _lastEntry) <= withinMs;

    /// <summary>Completes when writes are no longer held (at once when they are not).</summary>
    public Task WritesReleased => Volatile.Read(ref _held)?.Task ?? Task.CompletedTask;

    /// <summary>Enters for a read or flush; throws <see cref="VolumeStoppingException"/> once stopping. Pair with <see cref="Leave"/>.</summary>
    public void EnterRead()
    {
        Interlocked.Increment(ref _inside);
        // A coarse clock (milliseconds), stored at most once per tick: no shared cache line written per request.
        var now = Environment.TickCount64;
        if (Volatile.Read(ref _lastEntry) != now) Volatile.Write(ref _lastEntry, now);
        if (Volatile.Read(ref _stopping) != 0)
        {
            Leave();
            throw new VolumeStoppingException(volume);
        }
    }

    /// <summary>Enters for a write unless writes are held (then false: wait for <see cref="WritesReleased"/> and try again).</summary>
    public bool TryEnterWrite()
    {
        EnterRead();
        if (Volatile.Read(ref _held) is null) return true;
        Leave();   // held meanwhile: step back out and wait like everyone else
        return false;
    }

    public void Leave()
    {
        if (Interlocked.Decrement(ref _inside) == 0 && (Volatile.Read(ref _held) is not null || Volatile.Read(ref _stopping) != 0))
            SignalEmpty();
    }

    /// <summary>True while a hold or a stop waits for the gate to empty: whoever may stay inside long should leave.</summary>
    public bool IsDraining => Volatile.Read(ref _held) is not null || IsStopping;

    /// <summary>Holds new writes and waits until no request is inside. Pair with <see cref="ReleaseWrites"/>, also when cancelled.</summary>
    public async Task HoldWritesAsync(CancellationToken ct)
    {
        if (Interlocked.CompareExchange(ref _held, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null) is not null)
            throw new InvalidOperationException($"volume {volume}: writes are already held");
        await WhenEmptyAsync().WaitAsync(ct).ConfigureAwait(false);
    }

    public void ReleaseWrites() => Interlocked.Exchange(ref _held, null)?.TrySetResult();

    /// <summary>Refuses new requests (writes waiting for a hold wake to the refusal) and completes when the ones inside have left.</summary>
    public Task StopAndDrainAsync()
    {
        Interlocked.Exchange(ref _stopping, 1);
        ReleaseWrites();
        return WhenEmptyAsync();
    }

    private Task WhenEmptyAsync()
    {
        var empty = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_emptyWaiters) _emptyWaiters.Add(empty);
        // After the hold or stop flag is set (a full fence) and the waiter registered: a Leave that already
        // reached zero has been missed, so look once more.
        if (Volatile.Read(ref _inside) == 0) SignalEmpty();
        return empty.Task;
    }

    private void SignalEmpty()
    {
        TaskCompletionSource[] waiters;
        lock (_emptyWaiters)
        {
            waiters = _emptyWaiters.ToArray();
            _emptyWaiters.Clear();
        }
        foreach (var w in waiters) w.TrySetResult();
    }
}
