using BenchmarkDotNet.Attributes;

namespace DmEra.Micro.Bench.Nbd;

/// <summary>
/// A connection that negotiates an export and disconnects at once (EXPORT_NAME, optionally STRUCTURED_REPLY
/// first, then DISC): the per-connection share folded into every NbdSessionBenchmarks result.
/// </summary>
[BenchmarkCategory("nbd")]
[Config(typeof(ShortConfig))]
[MemoryDiagnoser]
public class NbdHandshakeBenchmarks
{
    [Params(false, true)]
    public bool StructuredReplies { get; set; }

    private ScriptedExportServer _server = null!;

    [GlobalSetup]
    public void Setup() => _server = new ScriptedExportServer(
        ClientScript.Build(ScriptedExportServer.ExportName, StructuredReplies, writes: false, requests: 0, payloadBytes: 4096,
            payloadFill: 0, requestsPerArrival: 1),
        exportBytes: 1 << 20);

    [Benchmark]
    public Task HandshakeAndDisconnect() => _server.ReplayAsync();
}
