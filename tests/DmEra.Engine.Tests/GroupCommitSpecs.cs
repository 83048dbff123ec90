using DmEra.Storage.Devices;
using DmEra.Engine.Tests.Fakes;

namespace DmEra.Engine.Tests;

public sealed class GroupCommitSpecs(ITestOutputHelper output) : EngineSpec(output)
{
    [Fact]
    public async Task First_writes_arriving_while_a_commit_is_in_flight_share_the_next_commit()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var volume = await StartAsync(metadata, new MemoryDevice(1024 * 4096));
        var flushesBefore = metadata.FlushesStarted;
        metadata.FlushGate = new SemaphoreSlim(0);

        var writes = new List<Task> { volume.WriteAsync(0, new byte[4096]).AsTask() };
        await Eventually(() => Task.FromResult(metadata.FlushesStarted > flushesBefore));
        for (var i = 1; i < 64; i++) writes.Add(volume.WriteAsync(i * 4096L * 7 % (1024 * 4096), new byte[4096]).AsTask());
        await Task.Delay(100);
        metadata.FlushGate.Release(1000);
        await Bounded(Task.WhenAll(writes));

        // One commit for the first write, one for the 63 that queued behind it.
        Assert.Equal(2, volume.Counters.Commits);
        Assert.Equal(64, volume.Counters.FirstWrites);
        await Bounded(volume.StopAsync());
    }

    [Fact]
    public async Task Many_concurrent_first_writes_cost_far_fewer_commits_than_writes()
    {
        var volume = await StartAsync(Memory(), new MemoryDevice(4096 * 4096));
        var writes = Enumerable.Range(0, 2000).Select(i =>
            Task.Run(() => volume.WriteAsync(i * 4096L * 2, new byte[512]).AsTask())).ToArray();
        await Bounded(Task.WhenAll(writes));

        Output.WriteLine($"{volume.Counters.FirstWrites} first-writes in {volume.Counters.Commits} commits");
        Assert.Equal(2000, volume.Counters.BlocksMarked);
        Assert.True(volume.Counters.Commits < 2000 / 4, $"{volume.Counters.Commits} commits for 2000 first-writes");
        await Bounded(volume.StopAsync());
    }
}
