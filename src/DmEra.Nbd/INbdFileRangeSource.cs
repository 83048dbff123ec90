using Microsoft.Win32.SafeHandles;

namespace DmEra.Nbd;

/// <summary>
/// An optional capability of an <see cref="INbdExport"/> whose data lives in a file: a READ's range may be
/// sent from the file straight into the socket (sendfile(2): one kernel copy instead of pread's and send's
/// two). The server asks only for plain (non-TLS) connections, on the thread that sends the reply.
/// </summary>
public interface INbdFileRangeSource
{
    /// <summary>
    /// A lease on the bytes <paramref name="offset"/>..+<paramref name="length"/> as they are in a file, or null
    /// when they cannot be sent from one (the caller then reads through <see cref="INbdExport.ReadAsync"/>).
    /// The bytes must be what <see cref="INbdExport.ReadAsync"/> would return for the range, for as long as the
    /// lease is held. Errors are thrown as <see cref="INbdExport.ReadAsync"/> throws them.
    /// </summary>
    NbdFileRange? TryLeaseFileRange(long offset, int length);
}

/// <summary>
/// A range of a file leased for sending: the file stays open until <see cref="Dispose"/> (the lease holds a
/// reference on its handle, so a concurrent close cannot hand the descriptor number to another file), and the
/// lender may hold whatever keeps the bytes valid (an era volume: its gate, which a stop waits for).
/// </summary>
public abstract class NbdFileRange : IDisposable
{
    private readonly SafeFileHandle _file;
    private int _released;

    /// <summary>Takes a reference on <paramref name="file"/>; throws <see cref="ObjectDisposedException"/> if it is closed.</summary>
    protected NbdFileRange(SafeFileHandle file, long fileOffset)
    {
        bool added = false;
        file.DangerousAddRef(ref added);
        _file = file;
        FileOffset = fileOffset;
    }

    /// <summary>The file descriptor, valid until <see cref="Dispose"/>.</summary>
    public int Fd => (int)_file.DangerousGetHandle();

    /// <summary>Where the leased range starts in the file.</summary>
    public long FileOffset { get; }

    /// <summary>
    /// True when the lender wants the lease back soon (an era volume being stopped or holding writes for a
    /// checkpoint): a sender that would wait for a slow peer copies the rest out instead and releases it.
    /// </summary>
    public virtual bool IsRecalled => false;

    /// <summary>What the lender does when the lease ends (called once, after the file's reference is dropped).</summary>
    protected virtual void Release() { }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0) return;
        _file.DangerousRelease();
        Release();
    }
}
