namespace DmEra.Storage;

/// <summary>
/// One thread completing many requests in turn (the release of a first-write group commit) runs their
/// continuations inline, one after another, down to each request's reply. Sent one by one, those replies
/// cost a send each and wake the client once per reply, which answers with one new request per wake-up
/// (fresh-era 4k writes at QD16: 0.76-0.93 sends per request over TCP before, 0.24 after;
/// bench/results/firstwrite-2026-12-03c.md). Inside <see cref="Run{TState}"/>, work that gains from being
/// done once per batch (a connection's flush of the replies it gathered) is deferred with
/// <see cref="TryDefer"/> to the batch's end, on the same thread. Outside a batch nothing changes. Lives in
/// Storage because both the engine (which runs batches) and the NBD server (which defers) build on it.
/// </summary>
public static class CompletionBatch
{
    [ThreadStatic] private static List<Action>? t_deferred;
    [ThreadStatic] private static int t_depth;

    /// <summary>Runs <paramref name="complete"/>, then every action deferred meanwhile on this thread, once each, in order.</summary>
    public static void Run<TState>(TState state, Action<TState> complete)
    {
        t_depth++;
        try
        {
            complete(state);
        }
        finally
        {
            if (--t_depth == 0) RunDeferred();
        }
    }

    /// <summary>
    /// Inside a batch on this thread: <paramref name="action"/> runs once the batch ends, and the answer is
    /// true. Outside: false, and the caller acts now. The action must not throw; it runs outside the batch.
    /// </summary>
    public static bool TryDefer(Action action)
    {
        if (t_depth == 0) return false;
        (t_deferred ??= new List<Action>()).Add(action);
        return true;
    }

    private static void RunDeferred()
    {
        if (t_deferred is not { Count: > 0 } deferred) return;
        var actions = deferred.ToArray();
        deferred.Clear();
        foreach (var action in actions) action();
    }
}
