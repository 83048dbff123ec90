using System.Diagnostics;
using System.Runtime.InteropServices;

namespace DmEra.Storage;

/// <summary>
/// Sleeps below a millisecond: <see cref="Thread.Sleep(TimeSpan)"/> rounds to whole milliseconds, and
/// spinning with <see cref="Thread.Yield"/> for a few hundred microseconds burns a core that a 2-core host
/// shares with the clients and the socket threads.
/// </summary>
public static partial class ShortSleep
{
    [LibraryImport("libc", EntryPoint = "usleep")]
    private static partial int USleep(uint microseconds);

    /// <summary>Returns after at least <paramref name="duration"/> (a signal may end one usleep early: it sleeps again for the rest).</summary>
    public static void For(TimeSpan duration)
    {
        if (duration >= TimeSpan.FromSeconds(1))
        {
            Thread.Sleep(duration);
            return;
        }
        var started = Stopwatch.GetTimestamp();
        for (var left = duration; left > TimeSpan.Zero; left = duration - Stopwatch.GetElapsedTime(started))
            USleep((uint)Math.Max(1, (long)left.TotalMicroseconds));
    }
}
