using System.Diagnostics;
using System.Net.Sockets;

namespace DmEra.Admin;

/// <summary>
/// The admin connections open now, at most <c>max</c>: admitting one more closes the connection idle
/// longest (waiting for a command, never one running it), so forgotten consoles cannot lock the operator out.
/// </summary>
internal sealed class AdminConnections(int max)
{
    private readonly Dictionary<long, Entry> _open = new();
    private long _next;

    private sealed class Entry(Socket socket)
    {
        public Socket Socket { get; } = socket;
        public long IdleSince { get; set; } = Stopwatch.GetTimestamp();
        public bool Busy { get; set; }
    }

    /// <summary>The new connection's id, or null when all <c>max</c> are running commands.</summary>
    public long? Admit(Socket socket, out bool closedIdle)
    {
        Socket? victim = null;
        long id;
        lock (_open)
        {
            if (_open.Count >= max)
            {
                var idle = _open.Where(e => !e.Value.Busy).OrderBy(e => e.Value.IdleSince).FirstOrDefault();
                if (idle.Value is null)
                {
                    closedIdle = false;
                    return null;
                }
                _open.Remove(idle.Key);
                victim = idle.Value.Socket;
            }
            id = ++_next;
            _open[id] = new Entry(socket);
        }
        closedIdle = victim is not null;
        if (victim is not null)
        {
            try { victim.Shutdown(SocketShutdown.Both); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        }
        return id;
    }

    /// <summary>A command starts (busy) or ends (idle from now).</summary>
    public void SetBusy(long id, bool busy)
    {
        lock (_open)
            if (_open.TryGetValue(id, out var e))
            {
                e.Busy = busy;
                e.IdleSince = Stopwatch.GetTimestamp();
            }
    }

    public void Remove(long id)
    {
        lock (_open) _open.Remove(id);
    }
}
