using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DmEra.Nbd;

/// <summary>
/// Accepts NBD clients on TCP and Unix sockets and runs an <see cref="NbdSession"/> for each, up to
/// <see cref="NbdServerLimits.MaxConnections"/> at once. Dispose (or <see cref="StopAsync"/>) closes the
/// listeners and every connection.
/// </summary>
public sealed class NbdServer : IAsyncDisposable
{
    /// <summary>The IANA port; tests must bind port 0 instead.</summary>
    public const int DefaultPort = 10809;

    private readonly NbdSession _session;
    private readonly NbdServerLimits _limits;
    private readonly ILogger _log;

    private readonly CancellationTokenSource _draining = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<(Socket Socket, Task Loop, UnixSocketFile? UnixPath)> _listeners = new();
    private readonly ConcurrentDictionary<long, Task> _connections = new();
    private long _nextConnection;
    private int _active;

    public NbdServer(INbdExportCatalog exports, NbdServerLimits? limits = null, NbdTlsSettings? tls = null, ILogger? logger = null)
    {
        _limits = limits ?? new NbdServerLimits();
        _log = logger ?? NullLogger.Instance;
        _session = new NbdSession(exports, _limits, tls, _log);
    }

    /// <summary>Connections being served now.</summary>
    public int ActiveConnections => Volatile.Read(ref _active);

    /// <summary>
    /// Listens on TCP (TCP_NODELAY on every connection); returns the bound endpoint (port 0 picks a free one).
    /// A port another listener holds is refused (<see cref="SocketException"/> AddressAlreadyInUse).
    /// </summary>
    public IPEndPoint ListenTcp(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // SO_REUSEADDR alone, so a restart binds past connections in TIME_WAIT. Not .NET's ReuseAddress
            // option: on Linux it sets SO_REUSEPORT too, and a second daemon then shared the port with the
            // first, each client landing on either one at random.
            const int solSocket = 1, soReuseAddr = 2;
            socket.SetRawSocketOption(solSocket, soReuseAddr, BitConverter.GetBytes(1));
            socket.Bind(endpoint);
            socket.Listen(_limits.ListenBacklog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        Start(socket, null);
        var bound = (IPEndPoint)socket.LocalEndPoint!;
        _log.LogInformation("NBD server listening on {Endpoint}", bound);
        return bound;
    }

    /// <summary>
    /// Listens on a Unix socket at <paramref name="path"/>. A stale socket there (nobody answers) is replaced;
    /// a socket that answers belongs to a live server and is refused, as is any other file.
    /// </summary>
    public void ListenUnix(string path)
    {
        try
        {
            UnixSocketFile.RemoveStale(path, "NBD socket");
        }
        catch (IOException e)
        {
            throw new NbdException(NbdError.InvalidArgument, e.Message, e);
        }
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        UnixSocketFile file;
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            file = UnixSocketFile.Bound(path);
            socket.Listen(_limits.ListenBacklog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        Start(socket, file);
        _log.LogInformation("NBD server listening on unix:{Path}", path);
    }

    private void Start(Socket listener, UnixSocketFile? unixPath)
    {
        lock (_listeners) _listeners.Add((listener, Task.Run(() => AcceptLoopAsync(listener)), unixPath));
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        var ct = _draining.Token;
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || ct.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                // EMFILE and friends: keep the listener alive, back off briefly rather than spin.
                _log.LogWarning("NBD accept failed: {Message}", e.Message);
                await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
                continue;
            }
            if (Interlocked.Increment(ref _active) > _limits.MaxConnections)
            {
                Interlocked.Decrement(ref _active);
                _log.LogWarning("NBD connection refused: {Max} connections already open", _limits.MaxConnections);
                client.Dispose();
                continue;
            }
            long id = Interlocked.Increment(ref _nextConnection);
            _connections[id] = ServeAsync(id, client);
        }
    }

    private async Task ServeAsync(long id, Socket client)
    {
        await Task.Yield();
        string peer = client.RemoteEndPoint?.ToString() is { Length: > 0 } ep ? ep : $"unix#{id}";
        try
        {
            if (client.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6) client.NoDelay = true;
            await _session.RunAsync(new NetworkStream(client, ownsSocket: true), peer, _draining.Token, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _log.LogError(e, "NBD connection {Peer} ended with an unexpected error", peer);
        }
        finally
        {
            client.Dispose();
            Interlocked.Decrement(ref _active);
            _connections.TryRemove(id, out _);
        }
    }

    /// <summary>
    /// Stops accepting and stops every connection: handshakes are closed, transmissions stop reading and
    /// answer the requests already in flight. After <paramref name="grace"/> (default
    /// <see cref="NbdServerLimits.StopGrace"/>), what is still running is cancelled.
    /// </summary>
    public async Task StopAsync(TimeSpan? grace = null)
    {
        if (!_draining.IsCancellationRequested) _draining.Cancel();
        (Socket Socket, Task Loop, UnixSocketFile? UnixPath)[] listeners;
        lock (_listeners) listeners = _listeners.ToArray();
        foreach (var l in listeners) l.Socket.Dispose();
        await Task.WhenAll(listeners.Select(l => l.Loop)).ConfigureAwait(false);
        var all = Task.WhenAll(_connections.Values);
        if (await Task.WhenAny(all, Task.Delay(grace ?? _limits.StopGrace)).ConfigureAwait(false) != all)
        {
            _log.LogWarning("NBD server stop: {Count} connections still busy after the grace period; cancelling them", ActiveConnections);
            if (!_stopping.IsCancellationRequested) _stopping.Cancel();
        }
        await all.ConfigureAwait(false);
        foreach (var l in listeners) l.UnixPath?.DeleteIfStillOurs();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
        _draining.Dispose();
    }
}
