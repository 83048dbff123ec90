using DmEra.Engine;
using Microsoft.Extensions.Logging;

namespace DmEra.Daemon;

/// <summary>
/// Every interval: commits and first-writes per second at debug level, and a warning while a volume's
/// metadata is fuller than the threshold (the kernel gives no warning at all before -ENOSPC fails writes).
/// </summary>
public sealed class VolumeHealthLog(VolumeHost volumes, ILogger log, TimeSpan interval, double warnFraction) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public void Start() => _loop = Task.Run(LoopAsync);

    private async Task LoopAsync()
    {
        var last = new Dictionary<string, (long Commits, long FirstWrites)>();
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
                foreach (var v in volumes.Served)
                    await ReportAsync(v, last).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ReportAsync(ServedVolume v, Dictionary<string, (long Commits, long FirstWrites)> last)
    {
        v.RefusedWrites.LogSinceLastReport(log, v.Spec.Name);
        string status;
        try
        {
            status = await v.Volume.StatusAsync().WaitAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning("volume {Name}: status failed: {Message}", v.Spec.Name, e.Message);
            return;
        }
        if (status.Split(' ') is [_, var usage, _, _] && usage.Split('/') is [var used, var total]
            && long.TryParse(used, out var u) && long.TryParse(total, out var t) && t > 0 && (double)u / t >= warnFraction)
            log.LogWarning("volume {Name}: metadata {Used}/{Total} blocks used ({Percent:0}%); checkpoints and snapshots need room, writes fail when it is full",
                v.Spec.Name, u, t, 100.0 * u / t);
        if (v.Volume is EraVolume era && log.IsEnabled(LogLevel.Debug))
        {
            var now = (era.Counters.Commits, era.Counters.FirstWrites);
            var before = last.GetValueOrDefault(v.Spec.Name);
            last[v.Spec.Name] = now;
            var seconds = interval.TotalSeconds;
            log.LogDebug("volume {Name}: {Commits:0.0} commits/s, {FirstWrites:0.0} first-writes/s, status {Status}",
                v.Spec.Name, (now.Commits - before.Commits) / seconds, (now.FirstWrites - before.FirstWrites) / seconds, status);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_loop is not null) await _loop.ConfigureAwait(false);
    }
}
