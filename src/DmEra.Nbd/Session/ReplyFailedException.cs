namespace DmEra.Nbd.Session;

/// <summary>A reply could not be written: the connection is gone, and the session ends rather than answering more.</summary>
internal sealed class ReplyFailedException(Exception inner) : Exception("writing a reply failed", inner)
{
    public static bool IsConnectionLoss(Exception e) => e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException;
}
