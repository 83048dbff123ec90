using Akka.Configuration;

namespace DmEra.Engine.Tests;

/// <summary>The default group-commit-linger: full batches at a steady queue depth, no waiting for a lone writer.</summary>
public sealed class AdaptiveGroupCommitSpecs(ITestOutputHelper output)
    : EngineSpec(output, ConfigurationFactory.ParseString("dmera.engine.group-commit-linger = 2ms"))
{
    private const int B = 4096;

    [Fact]
    public async Task A_lone_sequential_writer_gets_one_commit_per_first_write()
    {
        var volume = await StartAsync(Memory(), new MemoryDevice(1024 * B));
        for (var i = 0; i < 200; i++) await Bounded(volume.WriteAsync(i * (long)B, new byte[1]));
        Assert.Equal(200, volume.Counters.Commits);
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task Sixteen_closed_loop_writers_share_commits()
    {
        var volume = await StartAsync(Memory(4096), new MemoryDevice(16 * 200 * (long)B));
        await Bounded(Task.WhenAll(Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 200; i++) await volume.WriteAsync((w * 200L + i) * B, new byte[1]);
        }))));
        var perCommit = (double)volume.Counters.FirstWrites / volume.Counters.Commits;
        Output.WriteLine($"{volume.Counters.FirstWrites} first-writes in {volume.Counters.Commits} commits: {perCommit:F1} per commit");
        Assert.Equal(3200, volume.Counters.FirstWrites);
        Assert.True(perCommit >= 4, $"{perCommit:F1} first-writes per commit");
        await Bounded(volume.StopAsync());
    }
}
