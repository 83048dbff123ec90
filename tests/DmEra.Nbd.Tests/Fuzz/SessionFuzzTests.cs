using DmEra.Nbd.Exports;
using DmEra.Nbd.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace DmEra.Nbd.Tests.Fuzz;

/// <summary>
/// Structure-aware fuzzing of whole sessions in-process, for a bounded time. Oracles: the session always
/// ends by itself once the client is done (no hang, no escaping exception), another export's data is never
/// touched, and a well-behaved client is served correctly afterwards. Failing inputs are saved; checked-in
/// ones under Fuzz/Regressions are replayed every run.
/// </summary>
public sealed class SessionFuzzTests
{
    /// <summary>Fuzzing time in the normal suite; DMERA_FUZZ_SECONDS runs longer (nightly).</summary>
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(
        double.TryParse(Environment.GetEnvironmentVariable("DMERA_FUZZ_SECONDS"), out var s) ? s : 8);

    private static readonly NbdServerLimits Limits = new()
    {
        MaxPayloadBytes = 64 * 1024,
        MaxSkippedWriteBytes = 128 * 1024,
        MaxInFlightRequests = 8,
        MaxBufferedBytesPerConnection = 256 * 1024,
        HandshakeTimeout = TimeSpan.FromSeconds(5),
    };

    private readonly ITestOutputHelper _output;

    public SessionFuzzTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task Mutated_sessions_never_hang_crash_or_touch_another_export()
    {
        var canary = new MemoryExport(1 << 20);
        var canaryData = Enumerable.Range(0, 1 << 20).Select(i => (byte)(i * 31)).ToArray();
        canary.Load(0, canaryData);
        var catalog = new NbdExportCatalog().Add(SessionInputGenerator.ExportName, new MemoryExport(1 << 20)).Add("canary-0x5eed", canary);

        int baseSeed = Environment.TickCount;
        var stop = DateTime.UtcNow + Budget;
        int runs = 0;
        for (int seed = baseSeed; DateTime.UtcNow < stop; seed++, runs++)
        {
            var input = new SessionInputGenerator(seed, 1 << 20, Limits.MaxPayloadBytes).Generate();
            var failure = await RunOne(catalog, input, new Random(seed));
            if (failure is not null)
            {
                string path = Path.Combine(Path.GetTempPath(), $"dmera-nbd-crasher-{seed}.bin");
                await File.WriteAllBytesAsync(path, input);
                Assert.Fail($"seed {seed}: {failure}; input saved to {path} (copy it to tests/DmEra.Nbd.Tests/Fuzz/Regressions)");
            }
        }
        _output.WriteLine($"{runs} fuzzed sessions from seed {baseSeed}");
        Assert.True(runs > 10, $"only {runs} sessions ran in {Budget}");

        var back = new byte[1 << 20];
        await canary.ReadAsync(0, back, default);
        Assert.True(back.AsSpan().SequenceEqual(canaryData), "a fuzzed session changed another export");
        await AssertHealthy(catalog);
    }

    [Fact]
    public async Task Saved_regression_inputs_still_pass()
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "Fuzz", "Regressions");
        var files = Directory.GetFiles(dir, "*.bin");
        Assert.NotEmpty(files);
        var catalog = new NbdExportCatalog().Add(SessionInputGenerator.ExportName, new MemoryExport(1 << 20));
        foreach (var file in files)
        {
            var failure = await RunOne(catalog, await File.ReadAllBytesAsync(file), new Random(1));
            Assert.True(failure is null, $"{Path.GetFileName(file)}: {failure}");
        }
        await AssertHealthy(catalog);
    }

    /// <summary>Feeds <paramref name="input"/> in random-sized pieces while draining replies; returns a failure or null.</summary>
    private static async Task<string?> RunOne(INbdExportCatalog catalog, byte[] input, Random random)
    {
        var (client, server) = DuplexPipeStream.CreatePair();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var session = Task.Run(() => new NbdSession(catalog, Limits).RunAsync(server, "fuzz", cts.Token));
        var drain = Task.Run(async () =>
        {
            var sink = new byte[64 * 1024];
            try { while (await client.ReadAsync(sink) > 0) { } }
            catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException) { }
        });
        // Replies are drained, so a server that stops reading for 10 s is stuck, not applying back-pressure.
        using var writeDeadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            for (int at = 0; at < input.Length;)
            {
                int n = Math.Min(input.Length - at, random.Next(1, 8192));
                await client.WriteAsync(input.AsMemory(at, n), writeDeadline.Token);
                at += n;
            }
            await client.FlushAsync(writeDeadline.Token);
        }
        catch (OperationCanceledException)
        {
            await client.DisposeAsync();
            return "the server stopped reading input for 10 s";
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The server closed its side first (a protocol violation it answers by disconnecting).
        }
        client.CompleteWrites();
        try
        {
            await session.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            return "the session did not end within 10 s after the client finished";
        }
        catch (Exception e)
        {
            return $"the session threw {e}";
        }
        finally
        {
            await client.DisposeAsync();
        }
        await drain.WaitAsync(TimeSpan.FromSeconds(10));
        return null;
    }

    private static async Task AssertHealthy(INbdExportCatalog catalog)
    {
        await using var h = new SessionHarness(catalog);
        await h.Client.GoAsync(SessionInputGenerator.ExportName);
        var data = Enumerable.Range(0, 4096).Select(i => (byte)i).ToArray();
        await h.Client.SendRequestAsync(1, 1, 8192, 4096, payload: data);
        Assert.Equal(0u, (await h.Client.ReadReplyAsync()).Error);
        await h.Client.SendRequestAsync(0, 2, 8192, 4096);
        Assert.Equal(data, RawNbdClient.AssembleRead(await h.Client.ReadReplyAsync(), 8192, 4096));
    }
}
