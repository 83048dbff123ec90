using DmEra.Metadata;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;

namespace DmEra.Daemon;

/// <summary>
/// What the daemon checks before it hands a volume's devices to the engine, because the engine (like the
/// kernel) would act on them without asking: a smaller origin cuts the era array for good, a zeroed
/// superblock is formatted over whatever else is on the device, and a metadata device too small for its
/// origin fails at the first snapshot. Each is refused, with the reason, unless the volume's settings
/// say otherwise explicitly (<c>allow-shrink=yes</c>, <c>format=yes</c>). Returns the lines to log once
/// the volume has started (resizes, a grown metadata device, a format).
/// </summary>
internal static class VolumePreflight
{
    /// <summary>
    /// Any era metadata ever written has data in its first blocks (format and era_restore allocate from
    /// block 1 upwards, and freed blocks are never zeroed), so a superblock of zeroes over a non-zero start
    /// is damaged metadata, not a fresh device. 256 blocks = 1 MiB read once at start.
    /// </summary>
    private const int ProbedBlocks = 256;

    public static List<string> Check(VolumeSpec spec, MetadataDevice metadata, long originBytes)
    {
        EraMetadata.ValidateBlockSize(spec.BlockSizeSectors);
        // First, as activation would: every size below is computed from the block size, so another block size
        // than the metadata's would otherwise be reported as a shrink or as metadata too small.
        if (!EraMetadata.IsZeroed(metadata) && TryReadSuperblock(metadata) is { } existing && existing.DataBlockSize != spec.BlockSizeSectors)
            throw new MetadataException(
                $"metadata {spec.MetadataPath} was made with a block size of {existing.DataBlockSize} sectors, not {spec.BlockSizeSectors}: changing the data block size is not supported (give block-size={existing.DataBlockSize})");
        var events = new List<string>();
        var nrBlocks = MetadataSizing.TrackingBlocks(originBytes, spec.BlockSizeSectors);
        var minimum = MetadataSizing.MinimumBlocks(nrBlocks);
        if (minimum > SpaceMapBitmap.MaxMetadataBlocks)
            throw new MetadataException(
                $"origin {spec.OriginPath} has {nrBlocks} blocks of {spec.BlockSizeSectors} sectors: their metadata needs {minimum} blocks of 4096 bytes, more than the format's {SpaceMapBitmap.MaxMetadataBlocks}; use a larger block-size");
        if (metadata.BlockCount < minimum)
            throw new MetadataException(
                $"metadata {spec.MetadataPath} is too small: {metadata.BlockCount * MetadataBlock.Size} bytes, its origin's {nrBlocks} blocks of {spec.BlockSizeSectors} sectors need at least {minimum * MetadataBlock.Size} bytes (the era array and writesets twice over, for a held snapshot, plus a margin; 'dmera metadata-size' computes it); grow the file (truncate -s) or device and start again");

        if (EraMetadata.IsZeroed(metadata))
        {
            var used = FirstNonZeroBlock(metadata);
            if (used is { } block && !spec.Format)
                throw new MetadataException(
                    $"metadata {spec.MetadataPath}: the superblock is all zeroes but block {block} holds data, so this is damaged metadata, not a fresh device; formatting it would lose every era. Restore it (dmera restore) or, to start afresh, add format=yes to the volume");
            events.Add(used is null ? "formatting fresh metadata" : "formatting metadata over old contents (format=yes)");
            return events;
        }

        EraSuperblock sb;
        try
        {
            sb = EraSuperblock.Read(metadata);
        }
        catch (MetadataException e) when (spec.Format && e is not CorruptBlockException { Block: > 0 })
        {
            // Told explicitly: whatever is there is not era metadata, so zero the superblock and let activation format.
            metadata.Write(0, new byte[MetadataBlock.Size]);
            metadata.Flush();
            events.Add($"formatting metadata that held no era superblock ({e.Message}) (format=yes)");
            return events;
        }
        if (spec.Format)
            events.Add("format=yes ignored: the metadata holds era metadata, which is never formatted over (zero it to start afresh)");
        if (sb.NrBlocks > nrBlocks)
        {
            if (!spec.AllowShrink)
                throw new MetadataException(
                    $"origin {spec.OriginPath} has {nrBlocks} blocks of {spec.BlockSizeSectors} sectors but the metadata tracks {sb.NrBlocks}: starting would forget the eras of blocks {nrBlocks}-{sb.NrBlocks - 1} for good. Wrong origin? If it really shrank, add allow-shrink=yes to the volume (the kernel's resize: the era array is cut to the new size)");
            events.Add($"origin shrank from {sb.NrBlocks} to {nrBlocks} blocks (allow-shrink=yes): the eras of blocks {nrBlocks}-{sb.NrBlocks - 1} are dropped");
        }
        else if (sb.NrBlocks < nrBlocks)
            events.Add($"origin grew from {sb.NrBlocks} to {nrBlocks} blocks: the new blocks start unwritten (era 0), earlier eras are kept");
        var smBlocks = sb.SpaceMapRoot.NrBlocks;
        if (smBlocks < Math.Min(metadata.BlockCount, SpaceMapBitmap.MaxMetadataBlocks))
            events.Add($"metadata grew from {smBlocks} to {Math.Min(metadata.BlockCount, SpaceMapBitmap.MaxMetadataBlocks)} blocks: the space map is extended");
        return events;
    }

    private static EraSuperblock? TryReadSuperblock(MetadataDevice metadata)
    {
        try
        {
            return EraSuperblock.Read(metadata);
        }
        catch (MetadataException)
        {
            return null;   // damaged or foreign: the checks below say which
        }
    }

    private static long? FirstNonZeroBlock(MetadataDevice metadata)
    {
        var block = new byte[MetadataBlock.Size];
        for (long b = 1; b < Math.Min(metadata.BlockCount, ProbedBlocks); b++)
        {
            metadata.Read(b, block);
            if (block.AsSpan().IndexOfAnyExcept((byte)0) >= 0) return b;
        }
        return null;
    }
}
