using DmEra.Backup;
using Xunit;

namespace DmEra.Tests.Backup;

public sealed class ChainDecisionTests
{
    private static readonly BackupPoint Last = new()
    {
        Point = 2, File = "v.0002.incremental.qcow2", Kind = "incremental", Era = 7, TrackingId = "aa", SizeBytes = 1 << 20, Backing = "x",
    };

    private static VolumeStatus Volume(uint era, string id = "aa", long size = 1 << 20) => new("v", size, 128, era, id, null);

    [Fact]
    public void The_next_incremental_starts_at_the_era_after_the_one_the_last_point_closed()
    {
        var d = ChainDecision.For(Last, Volume(8), forceFull: false);
        Assert.False(d.Full);
        Assert.Equal(8u, d.SinceEra);
        Assert.Null(d.Reason);
    }

    [Fact]
    public void Another_tracking_history_a_new_size_or_an_era_gone_backwards_makes_a_full_backup_and_says_why()
    {
        Assert.Contains("tracking history", ChainDecision.For(Last, Volume(8, "bb"), false).Reason);
        Assert.Contains("tracking history", ChainDecision.For(Last, Volume(8, ""), false).Reason);
        Assert.Contains("size changed", ChainDecision.For(Last, Volume(8, size: 2 << 20), false).Reason);
        var back = ChainDecision.For(Last, Volume(7), false);
        Assert.True(back.Full);
        Assert.Contains("era went backwards (current era 7", back.Reason);
        Assert.True(ChainDecision.For(Last, Volume(9), forceFull: true).Full);
        Assert.Null(ChainDecision.For(null, Volume(1), false).Reason);    // the first point needs no excuse
    }
}
