namespace DmEra.Nbd;

/// <summary>Error values carried in NBD replies (proto.md "Error values"; they equal the Linux errno values).</summary>
public enum NbdError : uint
{
    None = 0,
    /// <summary>Operation not permitted, e.g. a write to a read-only export.</summary>
    PermissionDenied = 1,
    /// <summary>Input/output error of the backing store.</summary>
    IoError = 5,
    /// <summary>Out of memory; the spec discourages it, prefer another value.</summary>
    OutOfMemory = 12,
    /// <summary>Invalid argument: out of range, unknown command or flag, misaligned.</summary>
    InvalidArgument = 22,
    /// <summary>No space left: a write or write-zeroes past the end, or the store is full.</summary>
    NoSpace = 28,
    /// <summary>Value too large: only for DF reads and oversize commands without payload.</summary>
    Overflow = 75,
    /// <summary>Not supported: only for FAST_ZERO that would be no faster than writing.</summary>
    NotSupported = 95,
    /// <summary>The server is shutting down.</summary>
    Shutdown = 108,
}
