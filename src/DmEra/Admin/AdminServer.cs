using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using DmEra.Nbd;
using Mono.Unix.Native;

namespace DmEra.Admin;

/// <summary>
/// The admin socket: a Unix socket, mode 0600, that also checks each peer's uid (SO_PEERCRED) so only
/// the daemon's own user (or root) is served even if the file mode is loosened. Each line becomes a call
/// on the volumes (which are actor messages underneath). Bad input gets an error line and the
/// connection stays usable; an over-long line or a peer that vanishes costs only its own connection.
/// </summary>
public sealed class AdminServer : IAsyncDisposable
{
    private readonly UnixSocketFile _file;
    private readonly IAdminTarget _target;
    private readonly ILogger _log;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly TimeSpan _commandTimeout;
    private readonly TimeSpan _idleTimeout;
    private readonly AdminConnections _connections;

    private AdminServer(UnixSocketFile file, IAdminTarget target, ILogger log, Socket listener, TimeSpan commandTimeout,
        int maxConnections, TimeSpan idleTimeout)
    {
        _idleTimeout = idleTimeout;
        _connections = new AdminConnections(maxConnections);
        _file = file;
        _target = target;
        _log = log;
        _listener = listener;
        _commandTimeout = commandTimeout;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>
    /// Listens at <paramref name="path"/>. At most <paramref name="maxConnections"/> connections are open (a new
    /// one closes the one idle longest); one that sends no command for <paramref name="idleTimeout"/> is closed.
    /// </summary>
    public static AdminServer Start(string path, IAdminTarget target, ILogger log, TimeSpan commandTimeout, int backlog,
        int maxConnections, TimeSpan idleTimeout)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        UnixSocketFile.RemoveStale(path, "admin socket");   // a stale socket from a killed daemon goes; a live one is refused
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        UnixSocketFile file;
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            file = UnixSocketFile.Bound(path);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new IOException($"admin socket {path}: {e.Message} (is another dmera serving it?)", e);
        }
        if (Syscall.chmod(path, FilePermissions.S_IRUSR | FilePermissions.S_IWUSR) != 0)
            log.LogWarning("admin socket {Path}: chmod 0600 failed: {Errno}", path, Stdlib.GetLastError());
        listener.Listen(backlog);
        return new AdminServer(file, target, log, listener, commandTimeout, maxConnections, idleTimeout);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                _log.LogWarning("admin socket accept failed: {Message}", e.Message);
                continue;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var _ = client;
        if (!PeerAllowed(client, out var uid))
        {
            _log.LogWarning("admin socket: refused a connection from uid {Uid}", uid);
            return;
        }
        await using var stream = new NetworkStream(client, ownsSocket: false);
        if (_connections.Admit(client, out var closedIdle) is not { } id)
        {
            _log.LogWarning("admin socket: refused a connection: every admin connection is running a command");
            await TrySendAsync(stream, AdminWire.Reply([], "too many admin connections are running commands; try again"));
            return;
        }
        if (closedIdle) _log.LogInformation("admin socket: closed the connection idle longest to admit a new one");
        var buffer = new byte[AdminRequest.MaxLineBytes];
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                string? line;
                using (var idle = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
                {
                    idle.CancelAfter(_idleTimeout);
                    try
                    {
                        line = await AdminWire.ReadLineAsync(stream, buffer, AdminRequest.MaxLineBytes, idle.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
                    {
                        await TrySendAsync(stream, AdminWire.Reply([], $"closed: no command for {_idleTimeout.TotalSeconds:0}s"));
                        return;
                    }
                }
                if (line is null) return;
                _connections.SetBusy(id, true);
                var reply = await ExecuteAsync(line).ConfigureAwait(false);
                await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(reply), _stop.Token).ConfigureAwait(false);
                _connections.SetBusy(id, false);
            }
        }
        catch (InvalidDataException e)
        {
            await TrySendAsync(stream, AdminWire.Reply([], e.Message));
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The peer went away, it was closed to admit another, or we are stopping: nothing to answer.
        }
        finally
        {
            _connections.Remove(id);
        }
    }

    private async Task<string> ExecuteAsync(string line)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(_commandTimeout);
        try
        {
            var lines = AdminRequest.Parse(line) switch
            {
                AdminRequest.Message m => await _target.MessageAsync(m.Volume, m.Text, timeout.Token).ConfigureAwait(false),
                AdminRequest.GroupCheckpoint g => await _target.GroupCheckpointAsync(g.Names, timeout.Token).ConfigureAwait(false),
                AdminRequest.GroupBackup g => await _target.TakeBackupAsync(g.Names, g.Words, timeout.Token).ConfigureAwait(false),
                AdminRequest.Status s => await _target.StatusAsync(s.Volume, s.Json, timeout.Token).ConfigureAwait(false),
                AdminRequest.ListVolumes => await _target.VolumesAsync(timeout.Token).ConfigureAwait(false),
                AdminRequest.ListNodes => await _target.NodesAsync(timeout.Token).ConfigureAwait(false),
                AdminRequest.Help => AdminRequest.HelpText.Split('\n'),
                _ => throw new FormatException("unknown command"),
            };
            return AdminWire.Reply(lines, null);
        }
        catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
        {
            return AdminWire.Reply([], $"timed out after {_commandTimeout.TotalSeconds:0}s");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return AdminWire.Reply([], e.Message);
        }
    }

    private static async Task TrySendAsync(Stream stream, string text)
    {
        try
        {
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text)).ConfigureAwait(false);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>SO_PEERCRED gives the connecting process's uid; only ours and root's are served.</summary>
    private static bool PeerAllowed(Socket client, out uint uid)
    {
        const int solSocket = 1, soPeerCred = 17;
        Span<byte> cred = stackalloc byte[12];   // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        uid = uint.MaxValue;
        try
        {
            if (client.GetRawSocketOption(solSocket, soPeerCred, cred) < 12) return false;
        }
        catch (SocketException)
        {
            return false;
        }
        uid = MemoryMarshal.Read<uint>(cred[4..]);
        var self = Syscall.geteuid();
        return uid == self || uid == 0;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _file.DeleteIfStillOurs();   // never another daemon's socket made at this path since
    }
}
