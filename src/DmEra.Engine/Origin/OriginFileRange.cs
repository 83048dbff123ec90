using Microsoft.Win32.SafeHandles;

namespace DmEra.Engine.Origin;

/// <summary>
/// A range of an era volume's origin file, held for a caller that sends it from the file itself
/// (<see cref="EraVolume.TryLeaseOriginRange"/>): while it is held the request is inside the volume's gate,
/// so a stop (which closes the file afterwards) and a checkpoint's hold wait for it, and no answered write to
/// the range is still on its way to the origin. Dispose it once the bytes are sent.
/// </summary>
public sealed class OriginFileRange : IDisposable
{
    private readonly WriteGate _gate;
    private int _left;

    internal OriginFileRange(SafeFileHandle file, long offset, WriteGate gate)
    {
        File = file;
        Offset = offset;
        _gate = gate;
    }

    public SafeFileHandle File { get; }

    public long Offset { get; }

    /// <summary>A stop or a checkpoint's hold is waiting for the gate.</summary>
    public bool IsRecalled => _gate.IsDraining;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _left, 1) == 0) _gate.Leave();
    }
}
