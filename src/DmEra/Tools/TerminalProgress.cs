using System.Diagnostics;

namespace DmEra.Tools;

/// <summary>
/// A progress line on stderr while a long tool runs, only when stderr is a terminal and not -q:
/// pipes and logs stay clean. Redrawn at most five times a second, erased at the end.
/// </summary>
internal sealed class TerminalProgress : IProgress<long>, IDisposable
{
    private readonly string _what;
    private readonly long _total;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastDraw = -1000;
    private bool _drawn;

    private TerminalProgress(string what, long total)
    {
        _what = what;
        _total = total;
    }

    /// <summary>A progress reporter, or null when nobody would see it.</summary>
    public static TerminalProgress? Start(string what, long total, bool quiet) =>
        quiet || Console.IsErrorRedirected ? null : new TerminalProgress(what, total);

    public void Report(long value)
    {
        var now = _clock.ElapsedMilliseconds;
        if (now - _lastDraw < 200) return;
        _lastDraw = now;
        _drawn = true;
        Console.Error.Write(_total > 0
            ? $"\r{_what}: {Math.Min(100, 100.0 * value / _total):0.0}%   "
            : $"\r{_what}: {value:N0}   ");
    }

    public void Dispose()
    {
        if (_drawn) Console.Error.Write("\r" + new string(' ', _what.Length + 16) + "\r");
    }
}
