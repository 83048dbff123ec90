using DmEra.Metadata;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;

namespace DmEra.Daemon;

/// <summary>
/// Tells, before activation, whether the last stop was unclean: a clean stop archives the current writeset,
/// so a superblock that still points at one was left by a crash, kill -9 or power cut (activation then
/// archives it under its era, as the kernel's preresume does).
/// </summary>
public static class UncleanStop
{
    /// <summary>The era whose writeset a crash left open, or null (clean stop, fresh or unreadable metadata: activation judges the latter).</summary>
    public static uint? EraLeftOpen(MetadataDevice metadata)
    {
        try
        {
            if (metadata.BlockCount < 1 || EraMetadata.IsZeroed(metadata)) return null;
            var sb = EraSuperblock.Read(metadata);
            return sb.CurrentWriteset.IsNone ? null : sb.CurrentEra;
        }
        catch (Exception e) when (e is MetadataException or IOException)
        {
            return null;
        }
    }
}
