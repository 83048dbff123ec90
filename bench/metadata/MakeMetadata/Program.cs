using System.Diagnostics;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;

// make PATH NR_BLOCKS WRITESETS   — metadata with WRITESETS archived writesets of ~1% density each,
//                                  digested eras in the era array, as a long-running volume has.
// commit-cost PATH NR_BLOCKS      — blocks written per commit when k new bits are set, k = 1..4096.
var mode = args[0];
var path = args[1];
var nrBlocks = uint.Parse(args[2]);
using var device = MetadataDevice.Open(path, true, DeviceLock.Exclusive);
var md = EraMetadata.Format(device, 128);
md.Resize(nrBlocks);
md.Rollover();
md.Commit();
var rng = new Random(42);
if (mode == "make")
{
    var writesets = int.Parse(args[3]);
    for (var era = 0; era < writesets + 3; era++)
    {
        var bits = Enumerable.Range(0, (int)(nrBlocks / 100)).Select(_ => (uint)rng.NextInt64(nrBlocks)).Order().ToArray();
        md.MarkBlocks(bits);
        md.Commit();
        md.Rollover();
        md.Commit();
        // The first three eras are digested into the era array; the last WRITESETS stay as writesets.
        if (era < 3) md.DigestAll();
        md.Commit();
    }
    md.Archive();
    md.Commit();
    Console.WriteLine($"{path}: {nrBlocks} blocks, era {md.CurrentEra}, status {md.Status}");
    return;
}

var before = device.BlockCount;
Console.WriteLine("bits_per_commit blocks_written_per_commit commit_ms");
foreach (var k in new[] { 1, 16, 256, 4096 })
{
    var samples = new List<(long Blocks, double Ms)>();
    for (var round = 0; round < 5; round++)
    {
        var bits = Enumerable.Range(0, k).Select(_ => (uint)rng.NextInt64(nrBlocks)).Order().ToArray();
        var written = md.Transactions.Blocks.BlocksWritten;
        var sw = Stopwatch.StartNew();
        md.MarkBlocks(bits);
        md.Commit();
        samples.Add((md.Transactions.Blocks.BlocksWritten - written, sw.Elapsed.TotalMilliseconds));
    }
    Console.WriteLine($"{k} {samples.Average(s => s.Blocks):0.0} {samples.Select(s => s.Ms).Order().ElementAt(2):0.00}");
}
