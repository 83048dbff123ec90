using System.Diagnostics;

namespace DmEra.Tools;

/// <summary>
/// A progress line on stderr while a long command runs, only when stderr is a terminal and not -q:
/// pipes and logs stay clean. Redrawn at most five times a second, erased at the end. Counts of bytes
/// (backups) draw a bar with the rate and the time left; other counts (metadata blocks) a percentage.
/// </summary>
internal sealed class TerminalProgress : IProgress<long>, IDisposable
{
    private readonly string _what;
    private readonly long _total;
    private readonly bool _bytes;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastDraw = -1000;
    private int _width;

    private TerminalProgress(string what, long total, bool bytes)
    {
        _what = what;
        _total = total;
        _bytes = bytes;
    }

    /// <summary>A progress reporter, or null when nobody would see it.</summary>
    public static TerminalProgress? Start(string what, long total, bool quiet, bool bytes = false) =>
        quiet || Console.IsErrorRedirected ? null : new TerminalProgress(what, total, bytes);

    public void Report(long value)
    {
        var now = _clock.ElapsedMilliseconds;
        if (now - _lastDraw < 200) return;
        _lastDraw = now;
        var line = _bytes ? BarLine(_what, value, _total, _clock.Elapsed)
            : _total > 0 ? $"{_what}: {Math.Min(100, 100.0 * value / _total):0.0}%"
            : $"{_what}: {value:N0}";
        _width = Math.Max(_width, line.Length);
        Console.Error.Write("\r" + line.PadRight(_width));
    }

    /// <summary>The bar's text, e.g. <c>point 3 [#####.....] 1.0 GiB/2.0 GiB 512 MiB/s 0:02 left</c>.</summary>
    public static string BarLine(string what, long done, long total, TimeSpan elapsed)
    {
        var fraction = total > 0 ? Math.Clamp((double)done / total, 0, 1) : 0;
        var filled = (int)(fraction * 20);
        var rate = elapsed.TotalSeconds > 0 ? done / elapsed.TotalSeconds : 0;
        var left = rate > 0 ? TimeSpan.FromSeconds((total - done) / rate) : (TimeSpan?)null;
        return $"{what} [{new string('#', filled)}{new string('.', 20 - filled)}] {Bytes(done)}/{Bytes(total)} {Bytes((long)rate)}/s" +
               (left is { } l ? $" {(int)l.TotalMinutes}:{l.Seconds:00} left" : "");
    }

    public static string Bytes(long n) => n switch
    {
        >= 1L << 30 => $"{n / (double)(1L << 30):0.0} GiB",
        >= 1L << 20 => $"{n / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{n / 1024.0:0.0} KiB",
        _ => $"{n} B",
    };

    public void Dispose()
    {
        if (_width > 0) Console.Error.Write("\r" + new string(' ', _width) + "\r");
    }
}
