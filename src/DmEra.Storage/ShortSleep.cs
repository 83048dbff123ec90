using System.Runtime.InteropServices;

namespace DmEra.Storage;

/// <summary>
/// Sleeps below a millisecond: <see cref="Thread.Sleep(TimeSpan)"/> rounds to whole milliseconds, and
/// spinning with <see cref="Thread.Yield"/> for a few hundred microseconds burns a core that a 2-core host
/// shares with the clients and the socket threads.
/// </summary>
public static partial class ShortSleep
{
    [LibraryImport("libc", EntryPoint = "usleep", SetLastError = true)]
    private static partial int USleep(uint microseconds);

    public static void For(TimeSpan duration)
    {
        var micros = (long)duration.TotalMicroseconds;
        if (micros <= 0) return;
        if (micros >= 1_000_000) Thread.Sleep(duration);
        else USleep((uint)micros);
    }
}
