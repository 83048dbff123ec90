using Akka.Actor;
using Akka.Configuration;
using DmEra.Storage.Devices;
using DmEra.Engine.Tests.Fakes;
using DmEra.Engine.Tracking;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;
using Xunit.Abstractions;

namespace DmEra.Engine.Tests;

/// <summary>Shared helpers: start volumes on the test's actor system, read metadata images back, bound every wait.</summary>
public abstract class EngineSpec : Akka.TestKit.Xunit2.TestKit
{
    protected static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    private static readonly Config TestConfig = ConfigurationFactory.ParseString("""
        akka.loglevel = WARNING
        dmera.engine.group-commit-linger = 0s
        # The specs that watch a first write wait for its commit run write-through (FUA writes and writes past
        # the write-back cap still take that path); WriteBackSpecs and the model specs turn write-back on.
        dmera.engine.write-back-bytes = 0
        """).WithFallback(EngineSettings.DefaultConfig);

    protected EngineSpec(ITestOutputHelper output, Config? config = null)
        : base((config ?? ConfigurationFactory.Empty).WithFallback(TestConfig).WithFallback(DefaultConfig), null, output) { }

    protected Task<EraVolume> StartAsync(MetadataDevice metadata, IBlockDevice origin, uint blockSizeSectors = 8, string name = "v") =>
        EraVolume.StartAsync(Sys, name, metadata, origin, blockSizeSectors).WaitAsync(Limit);

    /// <summary>A second actor system over the same devices, as a restarted daemon would be.</summary>
    protected async Task<T> InSystemTwo<T>(Func<ActorSystem, Task<T>> body)
    {
        var two = ActorSystem.Create("system-two", Sys.Settings.Config);
        try { return await body(two); }
        finally { await two.Terminate().WaitAsync(Limit); }
    }

    protected static async Task<T> Bounded<T>(Task<T> task) => await task.WaitAsync(Limit);
    protected static async Task Bounded(Task task) => await task.WaitAsync(Limit);
    protected static async Task Bounded(ValueTask task) => await task.AsTask().WaitAsync(Limit);

    protected static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>The era of every block as the metadata on this device says (era array, archived writesets, current writeset).</summary>
    protected static uint[] LogicalEras(MetadataDevice device, uint blockSizeSectors = 8)
    {
        using var md = EraMetadata.Open(device, blockSizeSectors, mayFormat: false);
        return LogicalEras(md);
    }

    protected static uint[] LogicalEras(EraMetadata md)
    {
        var current = new InCoreWriteset(md.NrBlocks);
        if (!md.CurrentWriteset.IsNone)
            for (uint b = 0; b < Math.Min(md.CurrentWriteset.NrBits, md.NrBlocks); b++)
                if (md.IsMarkedInCurrentWriteset(b)) current.MarkDurable(b);
        return EraQuery.ErasOf(md, current, md.CurrentEra, 0, (int)md.NrBlocks);
    }

    /// <summary>The raw era array (digested eras only).</summary>
    protected static uint[] EraArray(EraMetadata md)
    {
        var result = new uint[md.NrBlocks];
        for (uint b = 0; b < md.NrBlocks; b++) result[b] = md.EraArray.Get(md.EraArrayRoot, b);
        return result;
    }

    /// <summary>A device that neither keeps nor injects anything special: in-memory, shared with a second system.</summary>
    protected static MetadataDevice Memory(long blocks = 1024) => MetadataDevice.InMemory(blocks);

    /// <summary>Waits until a condition on the volume holds (the digest runs in the background).</summary>
    protected static async Task Eventually(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in time");
            await Task.Delay(10);
        }
    }
}
