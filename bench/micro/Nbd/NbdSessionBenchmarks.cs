using BenchmarkDotNet.Attributes;
using DmEra.Nbd;
using DmEra.Nbd.Exports;

namespace DmEra.Micro.Bench.Nbd;

/// <summary>
/// Serving pipelined 4 KiB requests through the whole session (<see cref="NbdSession"/>: Transmission reads
/// each header and payload through WireReader, validates, dispatches to a <see cref="MemoryExport"/> and
/// writes the reply through ReplyWriter) over a <see cref="ScriptedClientStream"/>. Reported per request,
/// the handshake amortised over <see cref="Requests"/> (NbdHandshakeBenchmarks gives its cost). Allocated
/// bytes per request is the number to watch: it is garbage made by every I/O.
/// </summary>
[BenchmarkCategory("nbd")]
[Config(typeof(ShortConfig))]
[MemoryDiagnoser]
public class NbdSessionBenchmarks
{
    private const int Requests = 1024;
    private const int PayloadBytes = 4096;

    public enum Request
    {
        Read,
        /// <summary>READ after STRUCTURED_REPLY: one OFFSET_DATA chunk per 4 KiB read.</summary>
        StructuredRead,
        Write,
    }

    [Params(Request.Read, Request.StructuredRead, Request.Write)]
    public Request Kind { get; set; }

    /// <summary>
    /// Requests each read of the connection delivers: 16, a client keeping 16 requests outstanding; 1024, all
    /// of them already buffered (the session then never waits for the socket until the end).
    /// </summary>
    [Params(16, Requests)]
    public int RequestsPerArrival { get; set; }

    private ScriptedExportServer _server = null!;

    [GlobalSetup]
    public void Setup() => _server = new ScriptedExportServer(
        ClientScript.Build(ScriptedExportServer.ExportName, structuredReplies: Kind == Request.StructuredRead, writes: Kind == Request.Write,
            Requests, PayloadBytes, payloadFill: 0xc3, RequestsPerArrival),
        exportBytes: (long)Requests * PayloadBytes);

    [Benchmark(OperationsPerInvoke = Requests)]
    public Task ServeRequests() => _server.ReplayAsync();
}
