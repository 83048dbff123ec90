using Microsoft.Win32.SafeHandles;

namespace DmEra.Engine.Backup;

/// <summary>
/// A range of the origin file lent to a reader of a backup view that sends it from the file itself (sendfile),
/// granted only where no chunk has been overwritten since the instant (<see cref="BackupView.TryLeaseOrigin"/>):
/// the origin holds the instant's bytes there, and keeps them while the lease is held, because a write to a
/// leased chunk waits in its copy-before-write until the lease ends (qemu's copy-before-write makes writes wait
/// for a reader the same way). That wait is bounded: the write recalls the lease, and a sender whose peer is not
/// reading copies the rest out and gives it back. Dispose it once the bytes are sent.
/// </summary>
public sealed class ViewOriginLease : Origin.IOriginLease
{
    private readonly BackupView _view;
    private int _recalled;
    internal TaskCompletionSource? Released;   // made by the first write that waits (under the view's lock)

    internal ViewOriginLease(BackupView view, SafeFileHandle file, long offset, long firstChunk, long lastChunk)
    {
        _view = view;
        File = file;
        Offset = offset;
        FirstChunk = firstChunk;
        LastChunk = lastChunk;
    }

    public SafeFileHandle File { get; }

    public long Offset { get; }

    internal long FirstChunk { get; }
    internal long LastChunk { get; }

    /// <summary>A write is waiting for a chunk of the range.</summary>
    public bool IsRecalled => Volatile.Read(ref _recalled) != 0;

    /// <summary>Under the view's lock: asks for the lease back; the task ends when it is disposed.</summary>
    internal Task RecallLocked()
    {
        Volatile.Write(ref _recalled, 1);
        return (Released ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
    }

    public void Dispose() => _view.Return(this);
}
