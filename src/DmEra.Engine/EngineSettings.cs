using Akka.Actor;
using Akka.Configuration;

namespace DmEra.Engine;

/// <summary>
/// The engine's limits, read from <c>dmera.engine</c>. Their defaults and reasons live in one place, the
/// shipped akka.hocon at the repository root, which this assembly embeds: a bare ActorSystem (tests, benches)
/// falls back to the same values the daemon reads.
/// </summary>
public sealed record EngineSettings(
    string MetadataDispatcher,
    int MaxBlocksPerCommit,
    TimeSpan GroupCommitLinger,
    int MaxPendingFirstWrites,
    int DigestBitsPerStep,
    int DigestCommitDirtyBlocks,
    int MaxQueryBlocks,
    TimeSpan ActivationTimeout,
    TimeSpan StopTimeout,
    TimeSpan IntentLogCommitInterval,
    int IntentLogCommitMarks,
    long WriteBackBytes,
    double ViewReadShare)
{
    public const string DispatcherPath = "dmera.engine.metadata-dispatcher";

    /// <summary>The whole shipped akka.hocon (the daemon's, NBD's and Akka's settings as well as the engine's).</summary>
    public static Config ShippedConfig { get; } = LoadShipped();

    /// <summary>Only the <c>dmera.engine</c> block of the shipped akka.hocon, the fallback for any host.</summary>
    public static Config DefaultConfig { get; } =
        // Re-rooted by rendering: Akka's Config has no "at path". Not Akka's own blocks: a bare system keeps
        // its coordinated-shutdown timeouts unless its host sets them.
        ConfigurationFactory.ParseString("dmera.engine {\n" + ShippedConfig.GetConfig("dmera.engine").Root + "\n}");

    public static EngineSettings Create(ActorSystem system)
    {
        // Adds dmera.engine (and its dispatcher) to the system's config unless the host already set it.
        system.Settings.InjectTopLevelFallback(DefaultConfig);
        return Create(system.Settings.Config.GetConfig("dmera.engine"));
    }

    /// <summary>Reads a <c>dmera.engine</c> block; what it leaves out comes from the shipped file.</summary>
    public static EngineSettings Create(Config engine)
    {
        var c = engine.WithFallback(DefaultConfig.GetConfig("dmera.engine"));
        return new(
            DispatcherPath,
            c.GetInt("max-blocks-per-commit"),
            CheckedGroupCommitLinger(c),
            c.GetInt("max-pending-first-writes"),
            c.GetInt("digest-bits-per-step"),
            c.GetInt("digest-commit-dirty-blocks"),
            c.GetInt("max-query-blocks"),
            c.GetTimeSpan("activation-timeout"),
            c.GetTimeSpan("stop-timeout"),
            c.GetTimeSpan("intent-log-commit-interval"),
            c.GetInt("intent-log-commit-marks"),
            c.GetLong("write-back-bytes"),
            CheckedViewReadShare(c));
    }

    /// <summary>The metadata writer's thread sleeps through the linger, serving nothing else meanwhile (checkpoints,
    /// status, stop): a typo of seconds would stall them all, so past 10 ms it is refused at start.</summary>
    private static TimeSpan CheckedGroupCommitLinger(Config engine)
    {
        var linger = engine.GetTimeSpan("group-commit-linger");
        if (linger < TimeSpan.Zero || linger > MaxGroupCommitLinger)
            throw new ConfigurationException($"dmera.engine.group-commit-linger must be from 0s (off) to 10ms, not {linger.TotalMilliseconds} ms");
        return linger;
    }

    private static readonly TimeSpan MaxGroupCommitLinger = TimeSpan.FromMilliseconds(10);

    private static double CheckedViewReadShare(Config engine)
    {
        var share = engine.GetDouble("view-read-share");
        // Refused at start, not at the first take_backup_snap: a typo must not wait for the night's backup.
        if (!(share > 0 && share <= 1))
            throw new ConfigurationException($"dmera.engine.view-read-share must be above 0 and at most 1 (1 turns pacing off), not {share}");
        return share;
    }

    private static Config LoadShipped()
    {
        using var stream = typeof(EngineSettings).Assembly.GetManifestResourceStream("DmEra.akka.hocon")
            ?? throw new InvalidOperationException("DmEra.Engine was built without its embedded akka.hocon");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}
