namespace DmEra.Storage.Tests;

public sealed class GroupFlusherTests
{
    [Fact]
    public async Task Flushes_asked_while_one_is_in_flight_share_the_next_one()
    {
        using var release = new SemaphoreSlim(0);
        var calls = 0;
        using var flusher = new GroupFlusher(() => { Interlocked.Increment(ref calls); release.Wait(); }, "test-flush");

        var first = flusher.FlushAsync();
        while (Volatile.Read(ref calls) == 0) await Task.Delay(1);
        var queued = Enumerable.Range(0, 20).Select(_ => flusher.FlushAsync()).ToArray();
        await Task.Delay(50);
        Assert.False(first.IsCompleted);
        Assert.DoesNotContain(queued, q => q.IsCompleted);   // none may ride the flush that began before it

        release.Release(2);
        await Task.WhenAll(queued.Append(first)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2, calls);
    }

    [Fact]
    public async Task A_failing_flush_fails_every_request_of_its_batch()
    {
        using var flusher = new GroupFlusher(() => throw new IOException("EIO"), "test-flush");
        await Assert.ThrowsAsync<IOException>(() => flusher.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
