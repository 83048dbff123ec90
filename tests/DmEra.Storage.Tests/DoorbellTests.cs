using System.Diagnostics;

namespace DmEra.Storage.Tests;

public sealed class DoorbellTests
{
    /// <summary>This thread's user + system CPU time in clock ticks (fields 14 and 15 of /proc/thread-self/stat).</summary>
    private static long ThreadCpuTicks()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11]) + long.Parse(fields[12]);
    }

    [Fact]
    public void A_wait_with_nothing_arriving_lasts_at_least_its_timeout_and_leaves_the_core_idle()
    {
        // The metadata writer's group-commit linger waits like this, 300 µs at most. A spin (Thread.Yield in a
        // loop, its earlier form) burns the whole wait as CPU time on one of the host's two cores; a futex wait
        // burns next to none, however loaded the machine (a busy machine only lengthens the wall time).
        var bell = new Doorbell();
        var cpu0 = ThreadCpuTicks();
        var wall = Stopwatch.StartNew();
        for (var i = 0; i < 1000; i++) bell.WaitUntil(1, TimeSpan.FromMicroseconds(300));
        var elapsed = wall.Elapsed;
        var cpuTicks = ThreadCpuTicks() - cpu0;

        Assert.True(elapsed >= TimeSpan.FromMilliseconds(300), $"1000 waits of 300 µs took only {elapsed.TotalMilliseconds:F0} ms");
        // 100 ticks a second: 300 ms of spinning would be ~30 ticks; waking 1000 times costs a tick or two.
        Assert.True(cpuTicks <= 10, $"1000 waits of 300 µs used {cpuTicks} ticks of CPU over {elapsed.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public void A_wait_ends_when_the_arrival_it_waits_for_rings_not_at_its_timeout()
    {
        var bell = new Doorbell();
        bell.Ring();
        var waiting = new ManualResetEventSlim();
        var ringer = new Thread(() =>
        {
            waiting.Wait();
            Thread.Sleep(50);   // most likely asleep in the wait by now; either way it must not miss the rings
            bell.Ring();
            bell.Ring();
        });
        ringer.Start();
        var wall = Stopwatch.StartNew();
        waiting.Set();
        bell.WaitUntil(3, TimeSpan.FromSeconds(60));
        var elapsed = wall.Elapsed;
        ringer.Join();

        Assert.Equal(3, bell.Arrivals);
        Assert.True(elapsed < TimeSpan.FromSeconds(30), $"the wait took {elapsed.TotalSeconds:F1} s of its 60 s timeout");
    }

    [Fact]
    public void A_count_already_reached_and_a_timeout_already_past_return_at_once()
    {
        var bell = new Doorbell();
        bell.Ring();
        var wall = Stopwatch.StartNew();
        bell.WaitUntil(1, TimeSpan.FromSeconds(60));
        bell.WaitUntil(5, TimeSpan.Zero);
        bell.WaitUntil(5, TimeSpan.FromMilliseconds(-5));
        Assert.True(wall.Elapsed < TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void No_ring_is_lost_between_a_waiters_check_and_its_sleep()
    {
        // Many rounds of one ring racing one wait: a wake lost in the window would leave the wait to its 60 s timeout.
        var bell = new Doorbell();
        var wall = Stopwatch.StartNew();
        for (var round = 1; round <= 2000; round++)
        {
            var ringer = Task.Run(bell.Ring);
            bell.WaitUntil(round, TimeSpan.FromSeconds(60));
            ringer.Wait();
        }
        Assert.True(wall.Elapsed < TimeSpan.FromSeconds(50), $"2000 rounds took {wall.Elapsed.TotalSeconds:F1} s: a wake was lost");
    }
}
