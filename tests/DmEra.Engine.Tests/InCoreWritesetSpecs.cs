using DmEra.Engine.Tracking;

namespace DmEra.Engine.Tests;

public sealed class InCoreWritesetSpecs
{
    [Theory]
    [InlineData(0u, 0u)]
    [InlineData(0u, 63u)]
    [InlineData(60u, 70u)]
    [InlineData(63u, 64u)]
    [InlineData(5u, 199u)]
    [InlineData(128u, 255u)]
    public void All_marked_is_true_exactly_when_every_block_of_the_range_is_marked(uint first, uint last)
    {
        var ws = new InCoreWriteset(300);
        for (var b = first; b <= last; b++) ws.MarkDurable(b);
        Assert.True(ws.AreAllMarked(first, last));
        for (var hole = first; hole <= last; hole++)
        {
            var gap = new InCoreWriteset(300);
            for (var b = first; b <= last; b++) if (b != hole) gap.MarkDurable(b);
            Assert.False(gap.AreAllMarked(first, last));
        }
        if (first > 0) Assert.False(ws.AreAllMarked(first - 1, last));
        Assert.False(ws.AreAllMarked(first, last + 1));
    }

    [Fact]
    public void Kernel_fix_904e6b26_new_eras_alternate_the_two_preallocated_in_core_bitsets_zeroing_the_spare()
    {
        var tracker = new EraTracker(100, 1);
        var era1 = tracker.Current;
        era1.MarkDurable(7);
        tracker.StartEra(2);
        Assert.NotSame(era1, tracker.Current);
        Assert.False(tracker.Current.IsMarked(7));
        tracker.Current.MarkDurable(9);
        tracker.StartEra(3);
        Assert.Same(era1, tracker.Current);       // the two preallocated sets alternate
        Assert.False(tracker.Current.IsMarked(7)); // zeroed before it became current again
        Assert.Equal(3u, tracker.CurrentEra);
    }
}
