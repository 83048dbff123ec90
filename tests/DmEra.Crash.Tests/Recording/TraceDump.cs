namespace DmEra.Crash.Tests.Recording;

/// <summary>
/// Writes a failing workload's trace to a file, one event per line. Sequential workloads record the same
/// trace again from their seed; concurrent ones (stress) depend on thread timing, so the trace kept here,
/// with the crash point and state printed by the failure, is what replays the failing state.
/// </summary>
public static class TraceDump
{
    public static string Write(RecordedWorkload w)
    {
        var dir = Path.Combine(Path.GetTempPath(), "dmera-crash-traces");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"{w.Name}-seed{w.Seed}-{DateTime.UtcNow:yyyyMMddHHmmss}.trace");
        File.WriteAllLines(path, w.Events.Select(e => e.ToString()));
        return path;
    }
}
