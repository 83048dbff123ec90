using DmEra.Metadata.Era;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Tests.Era;

public sealed class CapacityTests
{
    [Fact]
    public void The_kernel_maximum_of_2_31_minus_1_blocks_fits_in_little_metadata_and_checks_clean()
    {
        // 2^31-1 era-array entries and a bitset of as many bits: new blocks share one default block, so
        // this costs the btrees over ~2.2 million array-block references, not 8 GiB of zeroes.
        var device = MetadataDevice.InMemory(64 * 1024 / 4 * 64);   // 64 MiB
        using var md = EraMetadata.Format(device, 8);
        md.Resize(EraMetadata.MaxNrBlocks);
        md.Rollover();
        md.MarkBlocks([0, 1_000_000_000, EraMetadata.MaxNrBlocks - 1]);
        md.Commit();
        Assert.True(md.IsMarkedInCurrentWriteset(EraMetadata.MaxNrBlocks - 1));
        Assert.False(md.IsMarkedInCurrentWriteset(EraMetadata.MaxNrBlocks - 2));
        Assert.True(md.Status.UsedBlocks < 14_000, md.Status.ToString());   // ~52 MiB: the btree over 2.1M array-block references
        var report = MetadataChecker.Check(device);
        Assert.True(report.IsClean && report.Warnings.Count == 0, string.Join("\n", report.Errors.Concat(report.Warnings)));
    }

    [Fact]
    public void Two_to_the_31_blocks_are_refused_as_the_kernel_refuses_them()
    {
        using var md = EraMetadata.Format(MetadataDevice.InMemory(1024), 8);
        var e = Assert.Throws<MetadataException>(() => md.Resize(1u << 31));
        Assert.Contains("2^31 - 1", e.Message);
    }
}
