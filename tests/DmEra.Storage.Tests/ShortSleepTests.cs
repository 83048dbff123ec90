using System.Diagnostics;

namespace DmEra.Storage.Tests;

public sealed class ShortSleepTests
{
    /// <summary>This thread's user + system CPU time in clock ticks (fields 14 and 15 of /proc/thread-self/stat).</summary>
    private static long ThreadCpuTicks()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11]) + long.Parse(fields[12]);
    }

    [Fact]
    public void A_sub_millisecond_sleep_lasts_at_least_its_duration_and_leaves_the_core_idle()
    {
        // The metadata writer's group-commit linger sleeps in pieces like these. A spin (Thread.Yield in a
        // loop, its earlier form) burns the whole wait as CPU time on one of the host's two cores; a sleep
        // burns next to none, however loaded the machine (a busy machine only lengthens the wall time).
        var cpu0 = ThreadCpuTicks();
        var wall = Stopwatch.StartNew();
        for (var i = 0; i < 1000; i++) ShortSleep.For(TimeSpan.FromMicroseconds(300));
        var elapsed = wall.Elapsed;
        var cpuTicks = ThreadCpuTicks() - cpu0;

        Assert.True(elapsed >= TimeSpan.FromMilliseconds(300), $"1000 sleeps of 300 µs took only {elapsed.TotalMilliseconds:F0} ms");
        // 100 ticks a second: 300 ms of spinning would be ~30 ticks; waking 1000 times costs a tick or two.
        Assert.True(cpuTicks <= 10, $"1000 sleeps of 300 µs used {cpuTicks} ticks of CPU over {elapsed.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public void Zero_and_negative_durations_return_at_once()
    {
        var wall = Stopwatch.StartNew();
        ShortSleep.For(TimeSpan.Zero);
        ShortSleep.For(TimeSpan.FromMilliseconds(-5));
        Assert.True(wall.Elapsed < TimeSpan.FromSeconds(1));
    }
}
