using DmEra.Nbd.Exports;

namespace DmEra.Nbd.Tests.Support;

/// <summary>Runs one in-process session over an in-memory stream pair; disposing closes the client and awaits the session.</summary>
internal sealed class SessionHarness : IAsyncDisposable
{
    public static readonly TimeSpan SessionTimeout = TimeSpan.FromSeconds(20);

    private readonly CancellationTokenSource _cts = new(SessionTimeout);

    public SessionHarness(INbdExportCatalog catalog, NbdServerLimits? limits = null, NbdTlsSettings? tls = null)
    {
        var (client, server) = DuplexPipeStream.CreatePair();
        Client = new RawNbdClient(client);
        Session = Task.Run(() => new NbdSession(catalog, limits, tls).RunAsync(server, "test", _cts.Token));
    }

    public static SessionHarness WithMemory(long size, out MemoryExport export, NbdServerLimits? limits = null, bool readOnly = false)
    {
        export = new MemoryExport(size, readOnly);
        return new SessionHarness(new NbdExportCatalog().Add("mem", export), limits);
    }

    public RawNbdClient Client { get; }

    public Task Session { get; }

    /// <summary>Waits for the session to end by itself (the test expects the server to close).</summary>
    public Task EndedAsync() => Session.WaitAsync(TimeSpan.FromSeconds(15));

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        try
        {
            await Session.WaitAsync(TimeSpan.FromSeconds(15));
        }
        finally
        {
            _cts.Dispose();
        }
    }
}
