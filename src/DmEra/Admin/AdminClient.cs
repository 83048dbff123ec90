using System.Net.Sockets;
using System.Text;

namespace DmEra.Admin;

/// <summary>Talks to a daemon's admin socket: one line out, data lines and ok/error back.</summary>
public sealed class AdminClient : IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    private AdminClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    public static AdminClient Connect(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
            return new AdminClient(socket);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            var reason = File.Exists(path) ? e.Message : "no such socket";
            throw new IOException($"no dmera daemon listens on the admin socket {Path.GetFullPath(path)} ({reason}): start 'dmera serve', or give the socket it uses with --admin-socket PATH", e);
        }
    }

    /// <summary>Sends one command; returns its data lines, or throws <see cref="AdminCommandException"/> with the daemon's error.</summary>
    public async Task<IReadOnlyList<string>> SendAsync(string command, CancellationToken ct = default)
    {
        if (command.Contains('\n')) throw new ArgumentException("a command is one line", nameof(command));
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(command + "\n"), ct).ConfigureAwait(false);
        var lines = new List<string>();
        while (true)
        {
            var line = await _reader.ReadLineAsync(ct).ConfigureAwait(false)
                ?? throw new IOException("the daemon closed the admin connection without answering");
            if (line.StartsWith(AdminWire.DataPrefix, StringComparison.Ordinal)) lines.Add(line[AdminWire.DataPrefix.Length..]);
            else if (line == AdminWire.Ok) return lines;
            else if (line.StartsWith(AdminWire.ErrorPrefix, StringComparison.Ordinal)) throw new AdminCommandException(line[AdminWire.ErrorPrefix.Length..]);
            else throw new IOException($"unexpected reply from the daemon: {line}");
        }
    }

    public void Dispose()
    {
        _reader.Dispose();
        _stream.Dispose();
    }
}

/// <summary>The daemon refused a command; the message is its (the kernel's) words.</summary>
public sealed class AdminCommandException(string message) : Exception(message);
