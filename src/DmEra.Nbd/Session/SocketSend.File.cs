using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace DmEra.Nbd.Session;

/// <summary>The file of a leased range failed after the reply's header was sent: the connection must end.</summary>
internal sealed class FileRangeFailedException(string message) : IOException(message);

/// <summary>sendfile(2) of a leased file range, for a <see cref="BulkReadLane"/>'s thread (see <see cref="SendFile"/>).</summary>
internal static partial class SocketSend
{
    private const int MsgMore = 0x8000;
    private const int EPIPE = 32;
    private const int ECONNRESET = 104;
    private const int ENOTCONN = 107;
    private const int ESHUTDOWN = 108;
    private const int ETIMEDOUT = 110;

    /// <summary>How long a send waits for room in the socket before it asks the lease whether it is recalled.</summary>
    private const int RecallCheckMs = 10;

    [LibraryImport("libc", EntryPoint = "sendfile", SetLastError = true)]
    private static unsafe partial nint SendFileRaw(int outFd, int inFd, long* offset, nuint count);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    private static unsafe partial nint Pread(int fd, byte* buffer, nuint count, long offset);

    /// <summary>
    /// Sends <paramref name="header"/> (with MSG_MORE: it leaves with the first data) and then
    /// <paramref name="length"/> bytes of <paramref name="range"/>'s file, page-cache pages going to the socket
    /// without passing through a user buffer. Disposes the lease as soon as its bytes are no longer needed.
    /// <para>Errors. Once the header is out the reply has promised <paramref name="length"/> bytes, so a failure
    /// of the file mid-send (EIO from the origin) cannot become an NBD error: this throws an
    /// <see cref="IOException"/> and the caller closes the connection, as nbdkit and qemu-nbd do when a reply
    /// cannot be completed (and Samba when sendfile fails after its header). The client sees its requests in
    /// flight fail, never wrong data; the failure is <see cref="FileRangeFailedException"/>, which the session
    /// logs. The page cache makes this rare: a leased range has usually just been
    /// written or read ahead, and an uncached page fails the same way a pread would, which is why a sparse-
    /// eligible read samples the range first (<see cref="MayHoldZeroGranule"/>) on the copying path's terms.
    /// A file shorter than the range (truncated under the server) sends zeroes for the missing tail, as a
    /// pread past the end reads.</para>
    /// <para>Never waiting on a peer inside the lease: if the socket stays full for <see cref="RecallCheckMs"/>
    /// and the lender recalls the lease (a stop, a checkpoint's hold), the rest is copied out with pread, the
    /// lease released, and the copy sent with blocking sends, so a client that stopped reading cannot hold a
    /// volume's gate.</para>
    /// </summary>
    public static unsafe void SendFile(Socket socket, ReadOnlySpan<byte> header, NbdFileRange range, int length)
    {
        bool added = false;
        var handle = socket.SafeHandle;
        handle.DangerousAddRef(ref added);
        try
        {
            int fd = (int)handle.DangerousGetHandle();
            SendAll(fd, header, MsgMore);
            long offset = range.FileOffset;
            long end = offset + length;
            while (offset < end)
            {
                nint n = SendFileRaw(fd, range.Fd, &offset, (nuint)(end - offset));   // advances offset by n
                if (n > 0) continue;
                if (n == 0)
                {
                    // End of file before the range's end: what a pread returns there, zeroes.
                    range.Dispose();
                    SendAll(fd, new byte[end - offset], 0);
                    return;
                }
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR) continue;
                if (errno != EAGAIN)
                {
                    if (IsSocketError(errno)) throw new IOException($"sendfile failed: {Marshal.GetPInvokeErrorMessage(errno)}");
                    throw new FileRangeFailedException($"sendfile from the export's file failed mid-reply: {Marshal.GetPInvokeErrorMessage(errno)}");
                }
                // The socket is full: wait for the peer, unless the lender wants the lease back.
                if (!range.IsRecalled && (WaitWritable(fd, RecallCheckMs) || !range.IsRecalled)) continue;
                SendCopy(fd, range, offset, (int)(end - offset));
                return;
            }
        }
        finally
        {
            range.Dispose();
            if (added) handle.DangerousRelease();
        }
    }

    /// <summary>The recalled lease's rest: read into a buffer, the lease released, then sent however long the peer takes.</summary>
    private static unsafe void SendCopy(int socketFd, NbdFileRange range, long offset, int count)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(count);
        try
        {
            ReadFully(range.Fd, buffer.AsSpan(0, count), offset);
            range.Dispose();
            SendAll(socketFd, buffer.AsSpan(0, count), 0);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>pread until full; zeroes past the end of the file; throws <see cref="IOException"/> on an error.</summary>
    private static unsafe void ReadFully(int fd, Span<byte> buffer, long offset)
    {
        fixed (byte* start = buffer)
        {
            int done = 0;
            while (done < buffer.Length)
            {
                nint n = Pread(fd, start + done, (nuint)(buffer.Length - done), offset + done);
                if (n > 0) { done += (int)n; continue; }
                if (n == 0) { buffer[done..].Clear(); return; }
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR) continue;
                throw new FileRangeFailedException($"reading the export's file failed mid-reply: {Marshal.GetPInvokeErrorMessage(errno)}");
            }
        }
    }

    /// <summary>
    /// Whether a sparse-eligible read of the range might hold an all-zero granule (which the copying path sends
    /// as a hole): true when the first <paramref name="sampleBytes"/> of some granule are zero, or cannot be read
    /// (the copying path then reports the error properly). False means no granule is all zeroes, so the copying
    /// path would send one data chunk too: what the file-range path sends.
    /// </summary>
    public static unsafe bool MayHoldZeroGranule(NbdFileRange range, int length, int granuleBytes, int sampleBytes)
    {
        byte* sample = stackalloc byte[sampleBytes];
        for (int at = 0; at < length; at += granuleBytes)
        {
            int n = Math.Min(sampleBytes, length - at);
            nint got = Pread(range.Fd, sample, (nuint)n, range.FileOffset + at);
            if (got <= 0 || !new ReadOnlySpan<byte>(sample, (int)got).ContainsAnyExcept((byte)0)) return true;
        }
        return false;
    }

    /// <summary>The errors sendfile takes from its socket (the peer went away); anything else came from the file.</summary>
    private static bool IsSocketError(int errno) => errno is EPIPE or ECONNRESET or ENOTCONN or ESHUTDOWN or ETIMEDOUT;

    /// <summary>True once the socket has room; false after <paramref name="timeoutMs"/> without.</summary>
    private static unsafe bool WaitWritable(int fd, int timeoutMs)
    {
        // A shutdown (an abort) or a reset wakes this with POLLOUT/POLLERR/POLLHUP; the next send reports it.
        var p = new PollFd { Fd = fd, Events = PollOut };
        int r = Poll(&p, 1, timeoutMs);
        if (r < 0 && Marshal.GetLastPInvokeError() != EINTR)
            throw new IOException($"poll failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        return r != 0;
    }
}
