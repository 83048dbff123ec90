namespace DmEra.Nbd;

/// <summary>
/// The NBD layer's domain exception. A backend throws it to fail one request with a specific
/// <see cref="NbdError"/>; the session turns it into an error reply and keeps serving. Any other
/// exception from a backend is reported to the client as <see cref="NbdError.IoError"/> and logged.
/// </summary>
public class NbdException : Exception
{
    public NbdException(NbdError error, string message, Exception? inner = null) : base(message, inner) => Error = error;

    /// <summary>The error value the client receives.</summary>
    public NbdError Error { get; }
}

/// <summary>
/// The peer broke the protocol in a way that leaves no answer but closing the connection
/// (bad magic, unknown client flags, EOF mid-message, a payload too large to skip).
/// </summary>
public sealed class NbdProtocolException : NbdException
{
    public NbdProtocolException(string message) : base(NbdError.InvalidArgument, message) { }
}
