using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;
using DmEra.Metadata.Tests.Interop;

namespace DmEra.Metadata.Tests.Era;

/// <summary>
/// The tracking id lives in the superblock's uuid field. The kernel blanks that field on every commit
/// (prepare_superblock) and era_restore writes zeros, so zero means "history unknown": DmEra gives such
/// metadata a new random id when it opens it, and keeps it from then on.
/// </summary>
public sealed class TrackingIdTests
{
    private static bool IsZero(byte[] id) => id.AsSpan().IndexOfAnyExcept((byte)0) < 0;

    [Fact]
    public void Formatting_writes_a_random_id_into_the_superblock_uuid_and_commits_keep_it()
    {
        var device = MetadataDevice.InMemory(1024);
        var md = EraMetadata.Format(device, 8);
        Assert.False(IsZero(md.TrackingId));
        Assert.Equal(md.TrackingId, EraSuperblock.Read(device).Uuid);
        md.Rollover();
        md.Commit();
        Assert.Equal(md.TrackingId, EraSuperblock.Read(device).Uuid);
        var reopened = EraMetadata.Open(device, 8);
        Assert.Equal(md.TrackingId, reopened.TrackingId);
        Assert.NotEqual(md.TrackingId, EraMetadata.Format(MetadataDevice.InMemory(1024), 8).TrackingId);
    }

    [Fact]
    public void Metadata_era_restore_wrote_has_a_zero_uuid_and_gets_a_new_id_when_opened()
    {
        var dir = Directory.CreateTempSubdirectory("dmera-trackingid-");
        try
        {
            var path = Path.Combine(dir.FullName, "meta");
            GoldenFixtures.ExtractImage("three-writesets", path);
            byte[] first, second;
            using (var device = MetadataDevice.Open(path, writable: true, DeviceLock.Exclusive))
            {
                var sb = EraSuperblock.Read(device);
                Assert.True(IsZero(sb.Uuid));
                using var md = EraMetadata.Open(device, sb.DataBlockSize, mayFormat: false);
                first = md.TrackingId;
                Assert.False(IsZero(first));
                md.Commit();
            }
            using (var device = MetadataDevice.Open(path, writable: true, DeviceLock.Exclusive))
            {
                Assert.Equal(first, EraSuperblock.Read(device).Uuid);
                using var md = EraMetadata.Open(device, EraSuperblock.Read(device).DataBlockSize, mayFormat: false);
                second = md.TrackingId;
            }
            Assert.Equal(first, second);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
