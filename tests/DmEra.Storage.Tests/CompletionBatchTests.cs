namespace DmEra.Storage.Tests;

public sealed class CompletionBatchTests
{
    [Fact]
    public void Work_deferred_inside_a_batch_runs_once_at_its_end_on_the_same_thread()
    {
        var log = new List<string>();
        var thread = Environment.CurrentManagedThreadId;
        CompletionBatch.Run(log, l =>
        {
            l.Add("complete 1");
            Assert.True(CompletionBatch.TryDefer(() => l.Add($"deferred on {(Environment.CurrentManagedThreadId == thread ? "same" : "other")} thread")));
            // A nested batch (a completion that completes others) flushes with the outer one.
            CompletionBatch.Run(l, inner => Assert.True(CompletionBatch.TryDefer(() => inner.Add("deferred in nested"))));
            l.Add("complete 2");
        });
        Assert.Equal(["complete 1", "complete 2", "deferred on same thread", "deferred in nested"], log);
    }

    [Fact]
    public void Outside_a_batch_nothing_is_deferred_and_a_finished_batch_runs_nothing_again()
    {
        Assert.False(CompletionBatch.TryDefer(() => throw new InvalidOperationException("must not run")));
        var runs = 0;
        CompletionBatch.Run(0, _ => CompletionBatch.TryDefer(() => runs++));
        CompletionBatch.Run(0, _ => { });
        Assert.Equal(1, runs);
    }

    [Fact]
    public void A_completion_that_throws_still_runs_what_was_deferred_and_ends_the_batch()
    {
        var ran = false;
        Assert.Throws<InvalidOperationException>(() => CompletionBatch.Run(0, _ =>
        {
            CompletionBatch.TryDefer(() => ran = true);
            throw new InvalidOperationException("boom");
        }));
        Assert.True(ran);
        Assert.False(CompletionBatch.TryDefer(() => { }));
    }
}
