using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace DmEra.Nbd.Session;

/// <summary>
/// send(2) that sleeps in the kernel while the socket buffer is full (poll(2) for POLLOUT), for a
/// <see cref="BulkReadLane"/>'s thread. The socket is non-blocking (the socket engine's async receives need
/// it), and the engine's own blocking Send waits for its epoll thread to signal an event: two wake-ups per
/// partial send of a large reply instead of the kernel's one. Sends here never overlap the engine's sends
/// on the same socket (the reply lock orders every writer); its receives are independent of them.
/// </summary>
internal static partial class SocketSend
{
    private const int MsgDontWait = 0x40;
    private const int MsgNoSignal = 0x4000;
    private const short PollOut = 0x004;
    private const int EAGAIN = 11;
    private const int EINTR = 4;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static unsafe partial nint Send(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    /// <summary>Sends all of <paramref name="data"/>; throws <see cref="IOException"/> when the connection fails.</summary>
    public static void All(Socket socket, ReadOnlySpan<byte> data)
    {
        bool added = false;
        var handle = socket.SafeHandle;
        handle.DangerousAddRef(ref added);
        try
        {
            SendAll((int)handle.DangerousGetHandle(), data, 0);
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    private static unsafe void SendAll(int fd, ReadOnlySpan<byte> data, int flags)
    {
        fixed (byte* start = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint n = Send(fd, start + done, (nuint)(data.Length - done), flags | MsgDontWait | MsgNoSignal);
                if (n >= 0)
                {
                    done += (int)n;
                    continue;
                }
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR) continue;
                if (errno != EAGAIN) throw new IOException($"send failed: {Marshal.GetPInvokeErrorMessage(errno)}");
                WaitWritable(fd, -1);
            }
        }
    }
}
