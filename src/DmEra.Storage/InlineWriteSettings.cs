namespace DmEra.Storage;

/// <summary>
/// When a buffered write runs on the caller's thread (<see cref="InlineWriteGate"/>). The host reads these from
/// the <c>dmera.storage</c> block of akka.hocon, which gives each its reason; the defaults here equal it.
/// </summary>
public sealed record InlineWriteSettings
{
    /// <summary>Writes up to this size may run inline (<see cref="DiskFile.InlineWriteMaxBytes"/> says why 1 MiB).</summary>
    public int MaxBytes { get; init; } = DiskFile.InlineWriteMaxBytes;

    /// <summary>An inline write slower than this is a stall: writes go to the thread pool for a while.</summary>
    public TimeSpan SlowWrite { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>How long the first stall sends writes to the thread pool; each further stall doubles it.</summary>
    public TimeSpan FirstBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest the doubling goes.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(32);
}
