namespace DmEra.Engine;

/// <summary>
/// A request the volume could not carry out because its metadata failed (write error, metadata device
/// full). A protocol server answers EIO. The write it belonged to never reached the origin.
/// </summary>
public sealed class VolumeFailedException(string message, Exception? inner = null) : IOException(message, inner)
{
    /// <summary>errno EIO, for protocol servers that report errno values (NBD_EIO = 5).</summary>
    public const int Errno = 5;
}

/// <summary>A request that arrived after the volume began to stop (NBD_ESHUTDOWN = 108).</summary>
public sealed class VolumeStoppingException(string volume) : IOException($"volume {volume} is stopping")
{
    public const int Errno = 108;
}
