using Akka.Actor;
using Akka.Configuration;

namespace DmEra.Engine;

/// <summary>
/// The engine's limits, read from <c>dmera.engine</c> (akka.hocon at the repository root documents each one
/// with its reason; <see cref="DefaultHocon"/> is the fallback so a bare ActorSystem works too).
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
    TimeSpan StopTimeout)
{
    public const string DispatcherPath = "dmera.engine.metadata-dispatcher";

    /// <summary>Same values as the dmera.engine block of akka.hocon; keep the two in step.</summary>
    public const string DefaultHocon = """
        dmera.engine {
          metadata-dispatcher { type = PinnedDispatcher, throughput = 100 }
          max-blocks-per-commit = 16384
          group-commit-linger = 0.3ms
          max-pending-first-writes = 1024
          digest-bits-per-step = 32576
          digest-commit-dirty-blocks = 1024
          max-query-blocks = 1048576
          activation-timeout = 120s
          stop-timeout = 120s
        }
        """;

    public static Config DefaultConfig { get; } = ConfigurationFactory.ParseString(DefaultHocon);

    public static EngineSettings Create(ActorSystem system)
    {
        // Adds dmera.engine (and its dispatcher) to the system's config unless the host already set it.
        system.Settings.InjectTopLevelFallback(DefaultConfig);
        return Create(system.Settings.Config.GetConfig("dmera.engine"));
    }

    public static EngineSettings Create(Config engine) => new(
        DispatcherPath,
        engine.GetInt("max-blocks-per-commit", 16384),
        engine.GetTimeSpan("group-commit-linger", TimeSpan.FromMicroseconds(300)),
        engine.GetInt("max-pending-first-writes", 1024),
        engine.GetInt("digest-bits-per-step", 32576),
        engine.GetInt("digest-commit-dirty-blocks", 1024),
        engine.GetInt("max-query-blocks", 1 << 20),
        engine.GetTimeSpan("activation-timeout", TimeSpan.FromMinutes(2)),
        engine.GetTimeSpan("stop-timeout", TimeSpan.FromMinutes(2)));
}
