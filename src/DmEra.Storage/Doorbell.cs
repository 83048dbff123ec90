using System.Diagnostics;
using System.Runtime.InteropServices;

namespace DmEra.Storage;

/// <summary>
/// A count of arrivals that one thread can wait on, below a millisecond, until it reaches a number: the metadata
/// writer's group-commit linger waits here for the first-writes of the batch it expects, and goes as soon as
/// they are queued instead of sleeping out the whole linger. The waiter sleeps in futex(2) (Monitor and the
/// wait handles round timeouts to whole milliseconds, and a spin burns a core that a 2-core host shares with
/// the clients); an arrival makes a system call only when it completes what a waiter waits for.
/// </summary>
public sealed unsafe partial class Doorbell
{
    private const int FutexWaitPrivate = 128;
    private const int FutexWakePrivate = 129;
    private static readonly long SysFutex = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 202,
        Architecture.Arm64 or Architecture.LoongArch64 or Architecture.RiscV64 => 98,
        var other => throw new PlatformNotSupportedException($"futex(2) number unknown on {other}"),
    };

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "syscall")]
    private static partial long Futex(long number, int* word, int operation, int value, Timespec* timeout);

    // The futex word: bumped by every wake, so a waiter that read it before the arrival does not go to sleep.
    private readonly int[] _word = GC.AllocateArray<int>(1, pinned: true);
    private long _arrivals;
    private long _wakeAt = long.MaxValue;   // the waiter's target; MaxValue while nobody waits

    /// <summary>Arrivals so far.</summary>
    public long Arrivals => Volatile.Read(ref _arrivals);

    /// <summary>Counts one arrival; wakes the waiter when this makes the count it waits for.</summary>
    public void Ring()
    {
        // Interlocked is a full fence: the waiter either sees this arrival in its check, or its target is seen here.
        if (Interlocked.Increment(ref _arrivals) < Volatile.Read(ref _wakeAt)) return;
        fixed (int* word = _word)
        {
            Interlocked.Increment(ref *word);
            Futex(SysFutex, word, FutexWakePrivate, 1, null);
        }
    }

    /// <summary>
    /// Returns once <see cref="Arrivals"/> reaches <paramref name="target"/>, or after <paramref name="timeout"/>.
    /// One waiter at a time.
    /// </summary>
    public void WaitUntil(long target, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        Interlocked.Exchange(ref _wakeAt, target);
        try
        {
            fixed (int* word = _word)
                while (true)
                {
                    var seen = Volatile.Read(ref *word);
                    if (Volatile.Read(ref _arrivals) >= target) return;
                    var left = timeout - Stopwatch.GetElapsedTime(started);
                    if (left <= TimeSpan.Zero) return;
                    var ts = new Timespec { Seconds = left.Ticks / TimeSpan.TicksPerSecond, Nanoseconds = left.Ticks % TimeSpan.TicksPerSecond * 100 };
                    // Returns at once if a wake moved the word since it was read; early on a signal: the loop looks again.
                    Futex(SysFutex, word, FutexWaitPrivate, seen, &ts);
                }
        }
        finally
        {
            Volatile.Write(ref _wakeAt, long.MaxValue);
        }
    }
}
