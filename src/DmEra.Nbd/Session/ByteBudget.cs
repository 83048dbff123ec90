namespace DmEra.Nbd.Session;

/// <summary>
/// Caps the payload bytes one connection holds. Only the connection's reader acquires (one waiter at a time),
/// so a single pending waiter is enough. A request is admitted even over the cap when nothing else is held,
/// so a lone maximum-size request can never deadlock.
/// </summary>
internal sealed class ByteBudget
{
    private readonly long _limit;
    private readonly object _gate = new();
    private long _used;
    private TaskCompletionSource? _waiter;
    private long _waitingFor;

    public ByteBudget(long limit) => _limit = limit;

    public long Used { get { lock (_gate) return _used; } }

    public ValueTask AcquireAsync(long bytes, CancellationToken cancellationToken)
    {
        if (bytes <= 0) return ValueTask.CompletedTask;
        TaskCompletionSource waiter;
        lock (_gate)
        {
            if (Fits(bytes))
            {
                _used += bytes;
                return ValueTask.CompletedTask;
            }
            if (_waiter is not null) throw new InvalidOperationException("ByteBudget supports one waiter at a time");
            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiter = waiter;
            _waitingFor = bytes;
        }
        return new ValueTask(WaitAsync(waiter, cancellationToken));
    }

    public void Release(long bytes)
    {
        if (bytes <= 0) return;
        TaskCompletionSource? wake = null;
        lock (_gate)
        {
            _used -= bytes;
            if (_waiter is not null && Fits(_waitingFor))
            {
                _used += _waitingFor;
                wake = _waiter;
                _waiter = null;
            }
        }
        wake?.TrySetResult();
    }

    private bool Fits(long bytes) => _used == 0 || _used + bytes <= _limit;

    private async Task WaitAsync(TaskCompletionSource waiter, CancellationToken cancellationToken)
    {
        await using var registration = cancellationToken.Register(() =>
        {
            lock (_gate)
            {
                // Only a waiter that was never granted may be cancelled; a granted one owns its bytes.
                if (!ReferenceEquals(_waiter, waiter)) return;
                _waiter = null;
            }
            waiter.TrySetCanceled(cancellationToken);
        }).ConfigureAwait(false);
        await waiter.Task.ConfigureAwait(false);
    }
}
