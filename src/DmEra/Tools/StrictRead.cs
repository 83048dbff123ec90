using DmEra.Metadata;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.PersistentData;

namespace DmEra.Tools;

/// <summary>
/// The readers (dump, invalidate) are as strict as dmera check: what check rejects they refuse, naming
/// the first problem, instead of printing a plausible answer from damaged metadata (era_dump and
/// era_invalidate refuse what era_check rejects too). Only dump --repair reads on regardless.
/// </summary>
internal static class StrictRead
{
    public static void EnsureClean(MetadataDevice device, bool useMetadataSnapshot, string hint = "")
    {
        var report = useMetadataSnapshot ? MetadataChecker.CheckSnapshot(device) : MetadataChecker.Check(device);
        if (report.IsClean) return;
        var more = report.Errors.Count > 1 ? $" (and {report.Errors.Count - 1} more)" : "";
        throw new MetadataException($"metadata contains errors (run dmera check for details): {report.Errors[0]}{more}{hint}");
    }
}
