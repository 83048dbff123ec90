using DmEra.Crash.Tests.Enumeration;

namespace DmEra.Crash.Tests.Oracles;

/// <summary>How thoroughly one recorded workload is crashed and checked.</summary>
public sealed record CheckOptions
{
    public StateSampling Enumeration { get; init; } = new();
    /// <summary>Every Nth state is also given to the real era_check (0 = never).</summary>
    public int EraCheckEvery { get; init; } = 0;
    /// <summary>Every Nth state is crashed again during its own recovery (0 = never).</summary>
    public int DoubleCrashEvery { get; init; } = 0;
    /// <summary>States per crash point of a recovery that is itself crashed.</summary>
    public int DoubleCrashCap { get; init; } = 4;
    /// <summary>Every Nth state's volume is stopped cleanly and the image after the final commit checked too.</summary>
    public int CheckAfterStopEvery { get; init; } = 8;
    public int MaxViolations { get; init; } = 20;
    /// <summary>
    /// Let the recovered volume's digest finish (or fail) before stopping it. Off: stops then race the digest,
    /// which is how this suite found the stop hang fixed by engine commit b632e8d. On is only for bisecting
    /// against a tree older than that fix.
    /// </summary>
    public bool QuiesceDigestBeforeStop { get; init; }
}
