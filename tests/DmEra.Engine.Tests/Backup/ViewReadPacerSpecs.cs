using System.Diagnostics;
using DmEra.Engine.Backup;
using DmEra.Engine.Tracking;

namespace DmEra.Engine.Tests.Backup;

/// <summary>Backup I/O control on a virtual clock: paced reads take their share of the time while the live volume is busy, and none of it otherwise.</summary>
public sealed class ViewReadPacerSpecs
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    private static readonly long Ms = Stopwatch.Frequency / 1000;
    private long _now;
    private bool _busy = true;
    private readonly List<long> _sleeps = new();   // virtual ticks asked for

    private ViewReadPacer NewPacer(double share) => new(share, () => _busy, () => { _clockReads++; return _now; }, d =>
    {
        var ticks = (long)(d.TotalSeconds * Stopwatch.Frequency);
        _sleeps.Add(ticks);
        _now += ticks;   // the sleep passes virtual time
        return Task.CompletedTask;
    });

    private int _clockReads;

    /// <summary>A read that takes <paramref name="ticks"/> of virtual time.</summary>
    private ValueTask Read(long ticks)
    {
        _now += ticks;
        return ValueTask.CompletedTask;
    }

    private Task PacedAsync(ViewReadPacer pacer, long ms) => PacedTicksAsync(pacer, ms * Ms);

    private Task PacedTicksAsync(ViewReadPacer pacer, long ticks) =>
        pacer.PaceAsync(static s => s.Self.Read(s.Ticks), (Self: this, Ticks: ticks)).AsTask().WaitAsync(Limit);

    [Fact]
    public async Task While_the_volume_is_busy_reads_take_their_share_of_the_time()
    {
        var pacer = NewPacer(0.25);
        Assert.True(pacer.MustPace);
        var start = _now;
        for (var i = 0; i < 20; i++) await PacedAsync(pacer, 2);
        // 20 reads of 2 ms at a quarter of the time: each rests 6 ms before the next (the last one's rest is still owed).
        Assert.Equal(19, _sleeps.Count);
        Assert.All(_sleeps, s => Assert.Equal(6 * Ms, s));
        Assert.Equal(40 * Ms + 19 * 6 * Ms, _now - start);
        Assert.Equal(20, pacer.PacedReads);
        Assert.Equal(114, pacer.Rested.TotalMilliseconds, precision: 3);
    }

    [Fact]
    public async Task Rests_shorter_than_the_timer_accumulate_instead_of_being_rounded_away()
    {
        var pacer = NewPacer(0.5);
        var reads = 0;
        // Half-millisecond reads at half the time earn half-millisecond rests: paid two at a time, a whole millisecond each.
        while (_sleeps.Count < 3)
        {
            await PacedTicksAsync(pacer, Ms / 2);
            reads++;
        }
        Assert.All(_sleeps, s => Assert.InRange(s, Ms - 1, 2 * Ms - 1));
        Assert.InRange(reads, 6, 7);
    }

    [Fact]
    public async Task An_idle_volume_paces_nothing_and_a_read_finding_it_quiet_does_not_rest()
    {
        var pacer = NewPacer(0.1);
        await PacedAsync(pacer, 5);   // earns 45 ms of rest
        _busy = false;
        Assert.False(pacer.MustPace);
        await PacedAsync(pacer, 1);   // admitted paced, but the volume went quiet: the 45 ms are not owed to it
        Assert.Empty(_sleeps);
        _busy = true;
        await PacedAsync(pacer, 1);   // only the last read's rest (9 ms) is served
        Assert.Equal(new[] { 9 * Ms }, _sleeps);
    }

    [Fact]
    public async Task One_slow_read_never_stops_the_backup_for_long()
    {
        var pacer = NewPacer(0.01);
        await PacedAsync(pacer, 1000);
        await PacedAsync(pacer, 1);
        Assert.Equal(new[] { 100 * Ms }, _sleeps);
    }

    [Fact]
    public async Task Paced_reads_go_one_at_a_time()
    {
        var pacer = new ViewReadPacer(0.5, () => true);   // real clock and sleep
        var inside = 0;
        var most = 0;
        async ValueTask Slow(int _)
        {
            most = Math.Max(most, Interlocked.Increment(ref inside));
            await Task.Delay(5);
            Interlocked.Decrement(ref inside);
        }
        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => pacer.PaceAsync(Slow, i).AsTask())).WaitAsync(Limit);
        Assert.Equal(1, most);
    }

    [Fact]
    public void A_share_of_one_turns_pacing_off_and_a_share_outside_zero_to_one_is_refused()
    {
        Assert.False(NewPacer(1).MustPace);
        Assert.Throws<ArgumentOutOfRangeException>(() => NewPacer(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => NewPacer(1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => NewPacer(double.NaN));
    }

    [Fact]
    public async Task A_paced_view_read_returns_the_same_bytes_as_an_unpaced_one()
    {
        var dir = Directory.CreateTempSubdirectory("dmera-pacer-").FullName;
        try
        {
            IBlockDevice origin = new MemoryDevice(16 * 4096);
            await origin.WriteAsync(0, Enumerable.Range(0, 16 * 4096).Select(i => (byte)(i / 4096 + 1)).ToArray());
            using var view = new BackupView(new BlockGeometry(8, 16 * 4096), origin.ReadAsync, SavedCopyFile.Create(Path.Combine(dir, "store")), 16 * 4096, null,
                pacer: NewPacer(0.5));
            view.Start(heldRoot: 42, era: 3);
            await view.CopyBeforeWriteAsync(4096, 4096).AsTask().WaitAsync(Limit);
            await origin.WriteAsync(4096, new byte[4096]);
            var buffer = new byte[3 * 4096];
            await view.ReadAsync(0, buffer).AsTask().WaitAsync(Limit);
            Assert.Equal(Enumerable.Range(0, 3 * 4096).Select(i => (byte)(i / 4096 + 1)), buffer);
            Assert.True(_clockReads >= 2);   // it went through the pacer
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
