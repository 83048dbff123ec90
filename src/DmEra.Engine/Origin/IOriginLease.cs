using Microsoft.Win32.SafeHandles;

namespace DmEra.Engine.Origin;

/// <summary>
/// A range of a volume's origin file lent for sending from the file itself (sendfile): the live volume's
/// (<see cref="OriginFileRange"/>; a backup view's reads are always copied). Dispose it once sent.
/// </summary>
public interface IOriginLease : IDisposable
{
    /// <summary>The origin file (owned by the volume: the holder may take a reference, never close it).</summary>
    SafeFileHandle File { get; }

    /// <summary>Where the range starts in the file (the volume's offset: the origin is mapped one to one).</summary>
    long Offset { get; }

    /// <summary>The lender wants it back soon: a holder that would wait on something slow (a client not reading) should finish without the file and dispose this.</summary>
    bool IsRecalled { get; }
}
