using DmEra.Crash.Tests.Trace;

namespace DmEra.Crash.Tests.Recording;

/// <summary>
/// Everything offline enumeration needs, frozen: the trace, the devices' initial images and geometry,
/// the seed the workload was generated from, and the live assertions' verdicts.
/// </summary>
public sealed record RecordedWorkload(
    string Name,
    int Seed,
    IReadOnlyList<TraceEvent> Events,
    byte[] InitialOrigin,
    long InitialOriginSize,
    byte[]?[] InitialMetadata,
    uint BlockSizeSectors,
    IReadOnlyList<string> LiveViolations,
    int LiveChecks)
{
    public long BlockBytes => BlockSizeSectors * 512L;

    /// <summary>The image's last blocks that are the intent log (<see cref="Devices.HarnessLayout"/>); 0 = no log.</summary>
    public long LogBlocks { get; init; }
    public long MetadataBlocks => InitialMetadata.LongLength - LogBlocks;
}
