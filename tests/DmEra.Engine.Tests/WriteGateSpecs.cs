namespace DmEra.Engine.Tests;

public sealed class WriteGateSpecs
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_hold_waits_for_requests_inside_and_keeps_new_writes_out_until_released()
    {
        var gate = new WriteGate("v");
        Assert.True(gate.TryEnterWrite());
        var holding = gate.HoldWritesAsync(CancellationToken.None);
        await Task.Delay(50);
        Assert.False(holding.IsCompleted);            // a write is still inside
        Assert.False(gate.TryEnterWrite());           // new writes are held
        var released = gate.WritesReleased;
        gate.Leave();
        await holding.WaitAsync(Limit);
        gate.EnterRead();                             // reads pass a hold
        gate.Leave();
        Assert.False(released.IsCompleted);
        gate.ReleaseWrites();
        await released.WaitAsync(Limit);
        Assert.True(gate.TryEnterWrite());
        gate.Leave();
    }

    [Fact]
    public async Task A_cancelled_hold_can_be_undone_by_releasing_the_writes()
    {
        var gate = new WriteGate("v");
        Assert.True(gate.TryEnterWrite());
        using var cts = new CancellationTokenSource(50);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gate.HoldWritesAsync(cts.Token));
        gate.ReleaseWrites();
        gate.Leave();
        Assert.True(gate.TryEnterWrite());
        gate.Leave();
        await gate.HoldWritesAsync(CancellationToken.None).WaitAsync(Limit);
        gate.ReleaseWrites();
    }

    [Fact]
    public async Task A_stop_refuses_new_requests_wakes_held_writes_to_the_refusal_and_waits_for_the_rest()
    {
        var gate = new WriteGate("v");
        gate.EnterRead();
        var holding = gate.HoldWritesAsync(CancellationToken.None);   // waits for the read
        var released = gate.WritesReleased;
        var stopped = gate.StopAndDrainAsync();
        await released.WaitAsync(Limit);              // held writers wake ...
        Assert.Throws<VolumeStoppingException>(() => gate.TryEnterWrite());   // ... to the refusal
        Assert.Throws<VolumeStoppingException>(() => gate.EnterRead());
        Assert.False(stopped.IsCompleted);            // the read is still inside
        gate.Leave();
        await stopped.WaitAsync(Limit);
        await holding.WaitAsync(Limit);
    }
}
