namespace DmEra.Storage.Tests;

public sealed class InlineWriteGateTests
{
    /// <summary>A clock the spec steps by hand, so a loaded machine's late wake-ups change nothing.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _now = 1_000_000;
        public override long TimestampFrequency => 1_000_000;
        public override long GetTimestamp() => _now;
        public long AgoMs(double ms) => _now - (long)(ms * 1000);
        public void AdvanceMs(double ms) => _now += (long)(ms * 1000);
    }

    private static InlineWriteGate Gate(ManualClock clock) => new(
        new InlineWriteSettings { FirstBackoff = TimeSpan.FromMilliseconds(200), MaxBackoff = TimeSpan.FromSeconds(10) }, clock);

    [Fact]
    public void Fast_writes_keep_the_gate_open()
    {
        var clock = new ManualClock();
        var gate = Gate(clock);
        for (int i = 0; i < 100; i++) gate.Record(clock.GetTimestamp());
        Assert.True(gate.IsOpen);
        Assert.Equal(0, gate.Stalls);
    }

    [Fact]
    public void A_stall_closes_the_gate_and_the_backoff_doubles_until_a_fast_write()
    {
        var clock = new ManualClock();
        var gate = Gate(clock);
        gate.Record(clock.AgoMs(5));
        Assert.False(gate.IsOpen);
        Assert.Equal(1, gate.Stalls);
        clock.AdvanceMs(199);
        Assert.False(gate.IsOpen);
        clock.AdvanceMs(1);
        Assert.True(gate.IsOpen);

        // A second stall right after reopening: closed for twice as long (400 ms).
        gate.Record(clock.AgoMs(5));
        clock.AdvanceMs(399);
        Assert.False(gate.IsOpen);
        clock.AdvanceMs(1);
        Assert.True(gate.IsOpen);

        // A fast write resets the backoff: the next stall closes it for 200 ms again.
        gate.Record(clock.GetTimestamp());
        gate.Record(clock.AgoMs(5));
        clock.AdvanceMs(199);
        Assert.False(gate.IsOpen);
        clock.AdvanceMs(1);
        Assert.True(gate.IsOpen);
        Assert.Equal(3, gate.Stalls);
    }

    [Fact]
    public void The_backoff_stops_doubling_at_its_maximum()
    {
        var clock = new ManualClock();
        var gate = Gate(clock);
        for (var i = 0; i < 10; i++)
        {
            gate.Record(clock.AgoMs(5));
            clock.AdvanceMs(20_000);
        }
        gate.Record(clock.AgoMs(5));
        clock.AdvanceMs(9_999);
        Assert.False(gate.IsOpen);
        clock.AdvanceMs(1);
        Assert.True(gate.IsOpen);
    }
}
