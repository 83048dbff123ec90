using System.Collections.Concurrent;
using System.Net;
using System.Numerics;
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
    private readonly HandshakeBudget _handshaking;
    private long _nextConnection;
    private int _active;
    private long _evictions;

    public NbdServer(INbdExportCatalog exports, NbdServerLimits? limits = null, NbdTlsSettings? tls = null, ILogger? logger = null)
    {
        _limits = limits ?? new NbdServerLimits();
        _log = logger ?? NullLogger.Instance;
        _session = new NbdSession(exports, _limits, tls, _log);
        _handshaking = new HandshakeBudget(_limits.MaxHandshakingConnections);
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
            long id = Interlocked.Increment(ref _nextConnection);
            var connection = new Connection(this);
            // Connections still in the handshake have a budget of their own: when it is full the one waiting
            // longest is closed (and stops counting at once), so idle sockets never hold max-connections.
            // Logged at 1, 2, 4, 8... evictions: a flood of idle sockets must not flood the log too.
            if (_handshaking.Enter(id, connection.Evict) && BitOperations.IsPow2(Interlocked.Increment(ref _evictions)))
                _log.LogWarning("NBD: {Max} connections were still in the handshake; closed the one waiting longest to admit a new one ({Count} so far)",
                    _limits.MaxHandshakingConnections, _evictions);
            if (Interlocked.Increment(ref _active) > _limits.MaxConnections)
            {
                _handshaking.Leave(id);
                connection.Release();
                _log.LogWarning("NBD connection refused: {Max} connections already open", _limits.MaxConnections);
                client.Dispose();
                connection.Handshake.Dispose();
                continue;
            }
            _connections[id] = ServeAsync(id, client, connection);
        }
    }

    /// <summary>One accepted connection: its handshake eviction token, and its place in the count, given back once.</summary>
    private sealed class Connection(NbdServer server)
    {
        private int _released;
        public CancellationTokenSource Handshake { get; } = new();

        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) Interlocked.Decrement(ref server._active);
        }

        public void Evict()
        {
            Release();
            try { Handshake.Cancel(); }
            catch (ObjectDisposedException) { }   // it ended meanwhile
        }
    }

    private async Task ServeAsync(long id, Socket client, Connection connection)
    {
        await Task.Yield();
        string peer = client.RemoteEndPoint?.ToString() is { Length: > 0 } ep ? ep : $"unix#{id}";
        try
        {
            if (client.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6) client.NoDelay = true;
            // Closed from the handshake budget, a connection ends as if the server drained it (silently).
            using var drain = CancellationTokenSource.CreateLinkedTokenSource(_draining.Token, connection.Handshake.Token);
            await _session.RunAsync(new NetworkStream(client, ownsSocket: true), peer, drain.Token, _stopping.Token,
                () => _handshaking.Leave(id)).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _log.LogError(e, "NBD connection {Peer} ended with an unexpected error", peer);
        }
        finally
        {
            _handshaking.Leave(id);
            client.Dispose();
            connection.Release();
            connection.Handshake.Dispose();
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
