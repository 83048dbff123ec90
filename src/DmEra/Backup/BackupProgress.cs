using System.Diagnostics;

namespace DmEra.Backup;

/// <summary>
/// A progress bar on stderr (bytes, rate, time left), only when stderr is a terminal: scripts and
/// logs stay quiet. Redrawn at most five times a second, erased at the end.
/// </summary>
public sealed class BackupProgress : IProgress<long>, IDisposable
{
    private readonly string _what;
    private readonly long _total;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastDraw = -1000;
    private int _width;

    private BackupProgress(string what, long total)
    {
        _what = what;
        _total = total;
    }

    public static BackupProgress? Start(string what, long total, bool quiet) =>
        quiet || Console.IsErrorRedirected ? null : new BackupProgress(what, total);

    public void Report(long done)
    {
        var now = _clock.ElapsedMilliseconds;
        if (now - _lastDraw < 200) return;
        _lastDraw = now;
        var line = Line(_what, done, _total, _clock.Elapsed);
        _width = Math.Max(_width, line.Length);
        Console.Error.Write("\r" + line.PadRight(_width));
    }

    /// <summary>The bar's text, e.g. <c>point 3 [#####.....] 1.0 GiB/2.0 GiB 512 MiB/s 0:02 left</c>.</summary>
    public static string Line(string what, long done, long total, TimeSpan elapsed)
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
