using System.Diagnostics;

namespace DmEra.Engine.Backup;

/// <summary>
/// Backup I/O control (what backup products call "storage latency control"): while the live volume is busy (a
/// request in flight, or one within <see cref="BusyWithinMs"/>), the view's reads go one at a time and take at most <see cref="Share"/> of the time;
/// each read earns a rest of its own duration x (1 - share) / share, served before the next paced read.
/// With the live volume idle a read is not paced at all, so a backup of an idle volume runs at full speed.
/// Why: a reader copying the view at full speed took the live volume's 4k writes down to 0.43x on 2 cores,
/// and as far with no view at all when it read the live volume (bench/results/view-2026-12-02.md): the cost
/// is the reader's CPU, which only slowing the reader gives back. A backup may be slow; the volume must not.
/// The idle scheduling class was tried instead and lost the backup's own speed (view-2026-12-03g.md).
/// Pure: the clock and the sleep are given, so specs run it without real time.
/// </summary>
public sealed class ViewReadPacer
{
    /// <summary>
    /// A live request this recent keeps the volume busy: a writer at queue depth 1 sends its next request a
    /// round trip after the last reply, and a reader let loose in that gap took QD1 writes to 0.32x.
    /// </summary>
    public const long BusyWithinMs = 10;
    // A rest is served once it is this long: the timers sleep in milliseconds, so smaller rests are carried
    // over to a later read instead (the share holds on average, not read by read).
    private static readonly long MinRestTicks = Stopwatch.Frequency / 1000;
    // A rest is never longer than this, whatever one slow read earned: the backup keeps moving.
    private static readonly long MaxRestTicks = Stopwatch.Frequency / 10;
    private readonly Func<bool> _liveBusy;
    private readonly Func<long> _now;
    private readonly Func<TimeSpan, Task> _sleep;
    private readonly SemaphoreSlim _turn = new(1, 1);
    private long _rest;   // Stopwatch ticks owed, under _turn
    private long _pacedReads, _restedTicks;

    /// <param name="share">Of the time, what paced reads may take (0 &lt; share &lt;= 1); 1 paces nothing.</param>
    /// <param name="liveBusy">Whether a live request is in flight now.</param>
    public ViewReadPacer(double share, Func<bool> liveBusy, Func<long>? now = null, Func<TimeSpan, Task>? sleep = null)
    {
        if (!(share > 0 && share <= 1)) throw new ArgumentOutOfRangeException(nameof(share), share, "the view's read share must be in (0, 1]");
        Share = share;
        _liveBusy = liveBusy;
        _now = now ?? Stopwatch.GetTimestamp;
        _sleep = sleep ?? Task.Delay;
    }

    public double Share { get; }

    /// <summary>Reads that were paced (the volume was busy), for status: a backup that crawls says why.</summary>
    public long PacedReads => Interlocked.Read(ref _pacedReads);

    /// <summary>Time those reads rested, in total.</summary>
    public TimeSpan Rested => TimeSpan.FromSeconds((double)Interlocked.Read(ref _restedTicks) / Stopwatch.Frequency);

    /// <summary>Whether the next read must be paced: the volume is busy and pacing is on.</summary>
    public bool MustPace => Share < 1 && _liveBusy();

    /// <summary>Runs <paramref name="read"/> as a paced read: after any rest owed, alone, its duration counted.</summary>
    public async ValueTask PaceAsync<TState>(Func<TState, ValueTask> read, TState state)
    {
        await _turn.WaitAsync().ConfigureAwait(false);
        try
        {
            Interlocked.Increment(ref _pacedReads);
            if (_rest >= MinRestTicks)
            {
                if (_liveBusy())
                {
                    var owed = Math.Min(_rest, MaxRestTicks);
                    var before = _now();
                    await _sleep(TimeSpan.FromSeconds((double)owed / Stopwatch.Frequency)).ConfigureAwait(false);
                    var slept = _now() - before;
                    Interlocked.Add(ref _restedTicks, slept);
                    _rest = Math.Max(0, _rest - slept);
                }
                else _rest = 0;   // the live volume went quiet: nothing is owed to it
            }
            var start = _now();
            await read(state).ConfigureAwait(false);
            _rest = Math.Min(_rest + (long)((_now() - start) * (1 - Share) / Share), MaxRestTicks);
        }
        finally
        {
            _turn.Release();
        }
    }
}
