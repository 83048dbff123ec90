using System.Diagnostics;

namespace DmEra.Storage.Tests;

public sealed class InlineWriteGateTests
{
    private static long AgoMs(double ms) => Stopwatch.GetTimestamp() - (long)(ms / 1000 * Stopwatch.Frequency);

    [Fact]
    public void Fast_writes_keep_the_gate_open()
    {
        var gate = new InlineWriteGate();
        for (int i = 0; i < 100; i++) gate.Record(Stopwatch.GetTimestamp());
        Assert.True(gate.IsOpen);
        Assert.Equal(0, gate.Stalls);
    }

    [Fact]
    public void A_stall_closes_the_gate_and_the_backoff_doubles_until_a_fast_write()
    {
        var gate = new InlineWriteGate(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10));
        gate.Record(AgoMs(5));
        Assert.False(gate.IsOpen);
        Assert.Equal(1, gate.Stalls);
        SpinWait.SpinUntil(() => gate.IsOpen, 2000);
        Assert.True(gate.IsOpen);

        // A second stall right after reopening: closed for twice as long (400 ms), so still closed at 300 ms.
        gate.Record(AgoMs(5));
        var closedAt = Stopwatch.GetTimestamp();
        Thread.Sleep(300);
        Assert.False(gate.IsOpen);
        SpinWait.SpinUntil(() => gate.IsOpen, 2000);
        Assert.True(Stopwatch.GetElapsedTime(closedAt) >= TimeSpan.FromMilliseconds(390));

        // A fast write resets the backoff: the next stall closes it for 200 ms again.
        gate.Record(Stopwatch.GetTimestamp());
        gate.Record(AgoMs(5));
        var again = Stopwatch.GetTimestamp();
        SpinWait.SpinUntil(() => gate.IsOpen, 2000);
        Assert.InRange(Stopwatch.GetElapsedTime(again).TotalMilliseconds, 150, 390);
        Assert.Equal(3, gate.Stalls);
    }
}
