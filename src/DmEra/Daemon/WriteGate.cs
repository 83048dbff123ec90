namespace DmEra.Daemon;

/// <summary>
/// Lets writes through until it is closed; closing waits for the writes already inside to finish and
/// holds new ones until it opens again. The group checkpoint closes the gates of all its volumes, so
/// the era boundary falls at the same instant on each. Passing an open gate is two interlocked
/// operations: no lock, no allocation on the write path.
/// </summary>
public sealed class WriteGate
{
    private int _inside;
    private volatile TaskCompletionSource? _closed;
    private TaskCompletionSource? _drained;

    /// <summary>Enters the gate, waiting while it is closed. Pair with <see cref="Leave"/>.</summary>
    public ValueTask EnterAsync(CancellationToken ct = default)
    {
        while (true)
        {
            var closed = _closed;
            if (closed is not null) return WaitThenEnterAsync(closed, ct);
            Interlocked.Increment(ref _inside);
            if (_closed is null) return ValueTask.CompletedTask;
            Leave();   // closed meanwhile: step back out and wait like everyone else
        }
    }

    private async ValueTask WaitThenEnterAsync(TaskCompletionSource closed, CancellationToken ct)
    {
        await closed.Task.WaitAsync(ct).ConfigureAwait(false);
        await EnterAsync(ct).ConfigureAwait(false);
    }

    public void Leave()
    {
        if (Interlocked.Decrement(ref _inside) == 0 && _closed is not null)
            Volatile.Read(ref _drained)?.TrySetResult();
    }

    /// <summary>Closes the gate and waits until no write is inside.</summary>
    public async Task CloseAsync(CancellationToken ct)
    {
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _drained, drained);
        if (Interlocked.CompareExchange(ref _closed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null) is not null)
            throw new InvalidOperationException("the gate is already closed");
        if (Volatile.Read(ref _inside) == 0) drained.TrySetResult();
        await drained.Task.WaitAsync(ct).ConfigureAwait(false);
    }

    public void Open()
    {
        var closed = Interlocked.Exchange(ref _closed, null);
        closed?.TrySetResult();
    }
}
