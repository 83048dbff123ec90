using DmEra.Metadata.Era;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Tests.Era;

/// <summary>
/// A digest that rewrites every era-array block holds the old and the new copy of each until it commits.
/// Committing on the way (as the engine does, digest-commit-dirty-blocks) bounds that to a few blocks.
/// </summary>
public sealed class BoundedDigestTests
{
    private const uint NrBlocks = 500_000;   // ~492 era-array blocks

    /// <summary>One mark per era-array block, so the digest rewrites all of them.</summary>
    private static uint[] SpreadMarks() => Enumerable.Range(0, (int)(NrBlocks / 1000)).Select(i => (uint)i * 1000).ToArray();

    /// <summary>Formats, digests one spread writeset (the era array gets blocks of its own), archives a second one.</summary>
    private static EraMetadata Prepare(MetadataDevice device)
    {
        var md = EraMetadata.Format(device, 8);
        md.Resize(NrBlocks);
        md.Rollover();
        md.MarkBlocks(SpreadMarks());
        md.Rollover();
        md.DigestAll(commitDirtyBlocks: 16);
        md.Commit();
        md.MarkBlocks(SpreadMarks());
        md.Rollover();
        md.Commit();
        return md;
    }

    [Fact]
    public void A_bounded_digest_fits_where_one_transaction_runs_out_of_metadata_space()
    {
        long used;
        uint secondEra;
        using (var probe = Prepare(MetadataDevice.InMemory(8192)))
        {
            used = probe.Status.UsedBlocks;
            secondEra = probe.CurrentEra - 1;
        }
        // Room for half the era array again: enough for a digest committing every 16 blocks, not for one
        // holding every rewritten block at once.
        long size = used + NrBlocks / 1000 / 2;

        var bounded = MetadataDevice.InMemory(size);
        using (var md = Prepare(bounded))
        {
            md.DigestAll(commitDirtyBlocks: 16);
            md.Commit();
            Assert.False(md.HasDigestWork);
        }
        var report = MetadataChecker.Check(bounded);
        Assert.True(report.IsClean, string.Join("\n", report.Errors));
        var found = new List<uint>();
        WrittenSince.Find(EraMetadataReader.Open(bounded), secondEra, (begin, end) => { for (var b = begin; b < end; b++) found.Add(b); });
        Assert.Equal(SpreadMarks(), found);

        using var unbounded = Prepare(MetadataDevice.InMemory(size));
        Assert.Throws<MetadataSpaceExhaustedException>(() => unbounded.DigestAll());
    }
}
