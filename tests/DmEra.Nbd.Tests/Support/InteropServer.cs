using System.Net;
using DmEra.Nbd.Exports;

namespace DmEra.Nbd.Tests.Support;

/// <summary>
/// An in-process NBD server on 127.0.0.1:0 and a Unix socket in a private temp directory, for real client
/// processes to drive. Disposing stops the server and deletes the directory.
/// </summary>
internal sealed class InteropServer : IAsyncDisposable
{
    private readonly List<IDisposable> _owned = new();

    public InteropServer(NbdServerLimits? limits = null, NbdTlsSettings? tls = null)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("dmera-nbd-").FullName;
        Catalog = new NbdExportCatalog();
        Server = new NbdServer(Catalog, limits, tls);
        Endpoint = Server.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0));
        SocketPath = Path.Combine(Directory, "nbd.sock");
        Server.ListenUnix(SocketPath);
    }

    public string Directory { get; }
    public NbdExportCatalog Catalog { get; }
    public NbdServer Server { get; }
    public IPEndPoint Endpoint { get; }
    public string SocketPath { get; }

    public string TcpUri(string export) => $"nbd://127.0.0.1:{Endpoint.Port}/{export}";
    public string UnixUri(string export) => $"nbd+unix:///{export}?socket={SocketPath}";

    /// <summary>A file export over a new sparse file of <paramref name="size"/> bytes in the temp directory.</summary>
    public FileExport AddFileExport(string name, long size, bool readOnly = false)
    {
        string path = Path.Combine(Directory, name + ".img");
        using (var f = File.Create(path)) f.SetLength(size);
        var export = new FileExport(path, readOnly);
        _owned.Add(export);
        Catalog.Add(name, export);
        return export;
    }

    /// <summary>Disposes <paramref name="owned"/> with the server.</summary>
    public T Own<T>(T owned) where T : IDisposable
    {
        _owned.Add(owned);
        return owned;
    }

    public string PathOf(string name) => Path.Combine(Directory, name + ".img");

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        foreach (var o in _owned) o.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
