using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;
using DmEra.Metadata.Tests.Interop;

namespace DmEra.Metadata.Tests.Era;

/// <summary>
/// Metadata sizing (issue 15 item 9): a device of exactly <see cref="MetadataSizing.MinimumBlocks"/> runs
/// the heaviest cycle (every block written in every era, digests rewriting the whole era array while a
/// snapshot holds the old one); and a full device is fixed by growing it: the space map takes the new
/// blocks, and the real era_check agrees with the result.
/// </summary>
public sealed class MetadataSizingTests
{
    [Theory]
    [InlineData(1u)]
    [InlineData(16_384u)]
    [InlineData(40_000u)]
    [InlineData(300_000u)]
    public void A_device_of_the_minimum_size_survives_full_writes_checkpoints_digests_and_a_held_snapshot(uint nrBlocks)
    {
        var device = MetadataDevice.InMemory(MetadataSizing.MinimumBlocks(nrBlocks));
        using var md = EraMetadata.Open(device, 8);
        var all = Enumerable.Range(0, (int)nrBlocks).Select(b => (uint)b).ToArray();
        md.Resize(nrBlocks);
        md.Rollover();
        md.Commit();
        for (var round = 0; round < 3; round++)
        {
            md.MarkBlocks(all);
            md.Commit();
            md.Rollover();
            md.Commit();
            md.DigestAll(1024);
            md.Commit();
        }
        md.MarkBlocks(all);
        md.Commit();
        md.TakeSnapshot();   // holds the fully written era array and the archived writeset
        md.Commit();
        for (var round = 0; round < 3; round++)
        {
            md.MarkBlocks(all);
            md.Commit();
            md.Rollover();
            md.Commit();
            md.DigestAll(1024);   // copies the whole era array away from the snapshot's
            md.Commit();
        }
        md.MarkBlocks(all);
        md.Commit();
        md.DropSnapshot();
        md.Commit();
        md.Archive();
        md.DigestAll(1024);
        md.Commit();
    }

    [Fact]
    public void The_minimum_grows_with_the_origin_and_a_60_KiB_file_is_far_below_it_for_64_MiB_at_4_KiB()
    {
        Assert.True(MetadataSizing.MinimumBlocks(16_384) * 4096 > 60 * 1024);
        Assert.True(MetadataSizing.MinimumBlocks(1 << 20) > MetadataSizing.MinimumBlocks(1 << 16));
        Assert.Equal(16_384, MetadataSizing.TrackingBlocks(64L << 20, 8));
        Assert.Equal(2, MetadataSizing.TrackingBlocks(4097, 8));
    }

    [Fact]
    public void A_full_metadata_file_grown_and_reopened_takes_the_new_blocks_and_passes_era_check()
    {
        using var tools = new RealEraTools();
        var path = tools.CreateMetadataFile("grow.meta", 64 * MetadataBlock.Size);
        uint era;
        using (var md = EraMetadata.Open(MetadataDevice.Open(path, true, DeviceLock.Exclusive), 8))
        {
            md.Resize(20_000);
            md.Rollover();
            md.Commit();
            var full = false;
            for (uint i = 0; i < 500 && !full; i++)
            {
                try
                {
                    md.MarkBlocks([i * 37 % 20_000]);
                    md.Commit();
                    md.Rollover();
                    md.Commit();
                }
                catch (MetadataSpaceExhaustedException)
                {
                    full = true;
                }
            }
            Assert.True(full, "the metadata never filled up: make the file smaller");
            era = md.LastCommitted.CurrentEra;
        }
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Write)) f.SetLength(4096 * MetadataBlock.Size);

        using (var md = EraMetadata.Open(MetadataDevice.Open(path, true, DeviceLock.Exclusive), 8))
        {
            Assert.Equal(4096, md.Transactions.SpaceMap.NrBlocks);
            md.Rollover();
            md.MarkBlocks([5, 19_999]);
            md.Commit();
            md.Rollover();
            md.Commit();
            md.DigestAll();
            md.Commit();
            Assert.True(md.CurrentEra > era);
        }
        tools.Check(path).EnsureSuccess();
        var report = Metadata.Era.Tools.MetadataChecker.Check(MetadataDevice.Open(path, false, DeviceLock.Shared));
        Assert.True(report.IsClean, string.Join("\n", report.Errors));
        Assert.Contains("<block block=\"19999\"/>", tools.Invalidate(path, era).EnsureSuccess().StdOut);
    }
}
