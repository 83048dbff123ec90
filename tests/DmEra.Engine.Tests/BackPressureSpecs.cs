using Akka.Configuration;

namespace DmEra.Engine.Tests;

public sealed class BackPressureSpecs(ITestOutputHelper output)
    : EngineSpec(output, ConfigurationFactory.ParseString("dmera.engine.max-pending-first-writes = 2"))
{
    [Fact]
    public async Task First_writes_beyond_the_pending_limit_wait_outside_the_writer_mailbox()
    {
        var metadata = new RecordingMetadataDevice(1024);
        var volume = await StartAsync(metadata, new MemoryDevice(64 * 4096));
        var flushesBefore = metadata.FlushesStarted;
        metadata.FlushGate = new SemaphoreSlim(0);
        var writes = Enumerable.Range(0, 10).Select(i => volume.WriteAsync(i * 4096L, new byte[1]).AsTask()).ToArray();
        await Eventually(() => Task.FromResult(metadata.FlushesStarted > flushesBefore));
        await Task.Delay(100);
        metadata.FlushGate.Release(10_000);
        await Bounded(Task.WhenAll(writes));

        // Without the limit: 2 commits (1, then the 9 queued behind it). With it, at most 2 wait at a time.
        Output.WriteLine($"{volume.Counters.Commits} commits");
        Assert.True(volume.Counters.Commits >= 5, $"{volume.Counters.Commits} commits: more than 2 first-writes were pending at once");
        Assert.Equal(10, volume.Counters.FirstWrites);
        await Bounded(volume.StopAsync());
    }
}
