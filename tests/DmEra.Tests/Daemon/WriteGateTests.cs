using DmEra.Daemon;

namespace DmEra.Tests.Daemon;

public sealed class WriteGateTests
{
    [Fact]
    public async Task Closing_waits_for_writes_inside_and_holds_new_ones_until_it_opens()
    {
        var gate = new WriteGate();
        await gate.EnterAsync();
        var closing = gate.CloseAsync(CancellationToken.None);
        await Task.Delay(50);
        Assert.False(closing.IsCompleted);            // a write is still inside
        var waiting = gate.EnterAsync().AsTask();
        gate.Leave();
        await closing.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);            // held while closed
        gate.Open();
        await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        gate.Leave();
    }

    [Fact]
    public async Task A_cancelled_close_can_be_undone_by_opening_the_gate()
    {
        var gate = new WriteGate();
        await gate.EnterAsync();
        using var cts = new CancellationTokenSource(50);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gate.CloseAsync(cts.Token));
        gate.Open();
        gate.Leave();
        await gate.EnterAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        gate.Leave();
        await gate.CloseAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        gate.Open();
    }
}
