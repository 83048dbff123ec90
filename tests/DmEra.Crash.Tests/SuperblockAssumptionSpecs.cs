using DmEra.Storage.Devices;
using DmEra.Crash.Tests.Devices;
using DmEra.Crash.Tests.Enumeration;
using DmEra.Crash.Tests.Recording;
using DmEra.Engine;
using Xunit.Abstractions;

namespace DmEra.Crash.Tests;

/// <summary>
/// The harness assumes, as persistent-data does, that the superblock's 4 KiB write is atomic. These specs
/// show why that costs nothing under the sector model and what breaking it would cost: every field of the
/// era superblock lies in its first 512-byte sector, so a tear at sector boundaries leaves the old or the
/// new superblock whole; a tear inside that sector (a non-atomic sector, model M3) is detected by the
/// checksum and refused at activation — "needs repair", never silently wrong tracking.
/// </summary>
public sealed class SuperblockAssumptionSpecs(ITestOutputHelper output) : CrashSpec(output)
{
    [Fact(Timeout = 60_000)]
    public async Task A_superblock_torn_at_sector_boundaries_is_whole_and_one_torn_inside_a_sector_is_refused()
    {
        var recorded = await RecordAsync("torn-superblock", new RigOptions(Seed: 801), async rig =>
        {
            await rig.WriteAsync(0, 4096);
            await rig.CheckpointAsync();
            await rig.WriteAsync(8192, 4096);
        });
        var cases = 0;
        foreach (var point in CrashPointWalker.Walk(recorded))
        {
            var sbWrite = point.MetadataPending.FirstOrDefault(e => e.Offset == 0);
            if (sbWrite?.Data is not { } fresh || point.MetadataDurable[0] is not { } old) continue;
            cases++;
            for (var sectors = 1; sectors < 8; sectors++)
            {
                var torn = (byte[])old.Clone();
                fresh.AsSpan(0, sectors * 512).CopyTo(torn);
                Assert.True(torn.AsSpan().SequenceEqual(fresh), $"crash point {point.Index}: a superblock torn after {sectors} sectors is neither whole");
            }
            var image = (byte[]?[])point.MetadataDurable.Clone();
            foreach (var w in point.MetadataPending.Where(e => e.Offset != 0)) image[w.Offset] = w.Data;
            var subSector = (byte[])old.Clone();
            fresh.AsSpan(0, 100).CopyTo(subSector);   // checksum and first fields new, the rest of the sector old
            image[0] = subSector;
            var origin = MemoryDevice.Holding(recorded.InitialOrigin.AsSpan(0, checked((int)recorded.InitialOriginSize)));
            var error = await Record.ExceptionAsync(() => EraVolume.StartAsync(Sys, "torn", new ImageMetadataDevice(image), origin, 8));
            Assert.True(error is not null, $"crash point {point.Index}: a superblock torn inside its first sector was accepted");
            Output.WriteLine($"crash point {point.Index}: torn inside a sector, refused: {error!.Message}");
        }
        Assert.True(cases > 0, "no crash point had a superblock write pending over an older one");
    }
}
