// Engine benchmark: steady-state overhead over raw origin I/O, and group commit of fresh-era first-writes.
// Usage: dotnet run -c Release --project bench/engine [seconds-per-run]
using System.Diagnostics;
using Akka.Actor;
using DmEra.Engine;
using DmEra.Storage.Devices;
using DmEra.Metadata.PersistentData;

const int BlockBytes = 4096;
const int NrBlocks = 16384;                      // 64 MiB origin
const int QueueDepth = 16;
var seconds = args.Length > 0 ? double.Parse(args[0]) : 2.0;
var dir = Directory.CreateTempSubdirectory("dmera-engine-bench-");
using var system = ActorSystem.Create("bench", EngineSettings.DefaultConfig.WithFallback("akka.loglevel = WARNING"));
var payload = new byte[BlockBytes];
new Random(1).NextBytes(payload);

try
{
    foreach (var kind in (Environment.GetEnvironmentVariable("KINDS") ?? "memory,file").Split(","))
    {
        Console.WriteLine($"== {kind} devices, {BlockBytes}-byte writes, queue depth {QueueDepth}, {seconds}s per run ==");
        // The same origin object, alternately written directly and through a volume whose blocks are all
        // marked in the current era. (Two different origin files differ by more than the engine costs:
        // page-cache writeback of a freshly filled file slows writes to it for many seconds.)
        {
            var origin = Origin(kind, "steady");
            var volume = await EraVolume.StartAsync(system, $"steady-{kind}", Metadata(kind, "steady"), origin, 8);
            for (long b = 0; b < NrBlocks; b += 256) await volume.WriteAsync(b * BlockBytes, new byte[256 * BlockBytes]);
            await volume.FlushAsync();
            // Alternate the two so machine noise (a shared 2-core box) hits both alike; compare medians.
            var rawRates = new List<double>();
            var volRates = new List<double>();
            await Run(offset => origin.WriteAsync(offset, payload));   // warm-up
            for (var round = 0; round < 5; round++)
            {
                rawRates.Add(await Run(offset => origin.WriteAsync(offset, payload)));
                volRates.Add(await Run(offset => volume.WriteAsync(offset, payload)));
            }
            var commits = volume.Counters.Commits;
            await volume.StopAsync();
            var rawMedian = Median(rawRates);
            var volMedian = Median(volRates);
            Console.WriteLine($"steady-state writes: raw origin median {rawMedian:N0} ops/s [{string.Join(", ", rawRates.Select(r => r.ToString("N0")))}]");
            Console.WriteLine($"                     via volume median {volMedian:N0} ops/s [{string.Join(", ", volRates.Select(r => r.ToString("N0")))}]");
            Console.WriteLine($"                     overhead {(rawMedian / volMedian - 1) * 100:F1}%; commits during the runs: {commits - 64}");
        }
        // The same comparison at queue depth 1 on one thread: the fast path's own cost per write.
        {
            var origin = Origin(kind, "qd1");
            var volume = await EraVolume.StartAsync(system, "qd1", Metadata(kind, "qd1"), origin, 8);
            await volume.WriteAsync(0, new byte[NrBlocks * BlockBytes]);
            await volume.FlushAsync();
            var n = kind == "memory" ? 1_000_000 : 100_000;
            var rawNs = new List<double>();
            var volNs = new List<double>();
            for (var round = 0; round < 5; round++)
            {
                var sw = Stopwatch.StartNew();
                for (var i = 0; i < n; i++) await origin.WriteAsync((i & (NrBlocks - 1)) * (long)BlockBytes, payload);
                rawNs.Add(sw.Elapsed.TotalNanoseconds / n);
                sw.Restart();
                for (var i = 0; i < n; i++) await volume.WriteAsync((i & (NrBlocks - 1)) * (long)BlockBytes, payload);
                volNs.Add(sw.Elapsed.TotalNanoseconds / n);
            }
            await volume.StopAsync();
            Console.WriteLine($"QD1 steady-state write: raw {Median(rawNs):F0} ns, via volume {Median(volNs):F0} ns, " +
                              $"overhead {Median(volNs) - Median(rawNs):F0} ns = {(Median(volNs) / Median(rawNs) - 1) * 100:F1}%");
        }
        // Fresh era: every write is a first-write to a block not yet marked.
        {
            var volume = await EraVolume.StartAsync(system, $"fresh-{kind}", Metadata(kind, "fresh"), Origin(kind, "fresh"), 8);
            long next = -1;
            var sw = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, QueueDepth).Select(_ => Task.Run(async () =>
            {
                long b;
                while ((b = Interlocked.Increment(ref next)) < NrBlocks && sw.Elapsed.TotalSeconds < seconds)
                    await volume.WriteAsync(b * BlockBytes, payload);
            })));
            var elapsed = sw.Elapsed.TotalSeconds;
            var c = volume.Counters;
            Console.WriteLine($"fresh-era first-writes: {c.FirstWrites:N0} in {elapsed:F2}s = {c.FirstWrites / elapsed:N0} first-writes/s, " +
                              $"{c.Commits:N0} commits = {c.Commits / elapsed:N0} commits/s, {(double)c.FirstWrites / c.Commits:F1} first-writes per commit");
            await volume.StopAsync();
        }
    }
}
finally
{
    dir.Delete(recursive: true);
}

IBlockDevice Origin(string kind, string name)
{
    if (kind == "memory") return new MemoryDevice((long)NrBlocks * BlockBytes);
    var path = Path.Combine(dir.FullName, name + ".origin");
    using (var f = File.Create(path)) f.SetLength((long)NrBlocks * BlockBytes);
    return FileDevice.Open(path);
}

MetadataDevice Metadata(string kind, string name)
{
    if (kind == "memory") return MetadataDevice.InMemory(4096);
    var path = Path.Combine(dir.FullName, name + ".meta");
    using (var f = File.Create(path)) f.SetLength(16 << 20);
    return MetadataDevice.Open(path, writable: true, DeviceLock.Exclusive);
}

static double Median(List<double> xs) { var s = xs.OrderBy(x => x).ToArray(); return s[s.Length / 2]; }

// QueueDepth workers issue random block-aligned writes for the given time; returns ops/s.
async Task<double> Run(Func<long, ValueTask> op)
{
    long ops = 0;
    var sw = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, QueueDepth).Select(w => Task.Run(async () =>
    {
        var rnd = new Random(w);
        long mine = 0;
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            for (var i = 0; i < 64; i++) await op(rnd.Next(NrBlocks) * (long)BlockBytes);
            mine += 64;
        }
        Interlocked.Add(ref ops, mine);
    })));
    return ops / sw.Elapsed.TotalSeconds;
}
