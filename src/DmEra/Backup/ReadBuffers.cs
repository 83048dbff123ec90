using System.Collections.Concurrent;

namespace DmEra.Backup;

/// <summary>
/// One copy's read buffers: at most <c>count</c> arrays of <see cref="Size"/> bytes, made on first need and
/// reused last-returned first (so a copy that keeps few in use touches few). A run holds one from the start of
/// its read until the writer has written it, so taking one is what bounds the client's memory whatever the
/// volume size. Pinned (the pinned object heap): libnbd writes replies into them from <c>nbd_poll</c>, long
/// after the call that named the buffer returned.
/// </summary>
internal sealed class ReadBuffers(int count, int size)
{
    private readonly SemaphoreSlim _free = new(count, count);
    private readonly ConcurrentStack<byte[]> _idle = new();

    public int Size => size;

    /// <summary>A buffer if one is free now.</summary>
    public bool TryTake(out byte[] buffer)
    {
        buffer = _free.Wait(0) ? Pop() : null!;
        return buffer is not null;
    }

    /// <summary>A buffer, waiting for one to be returned.</summary>
    public byte[] Take(CancellationToken ct)
    {
        _free.Wait(ct);
        return Pop();
    }

    public void Return(byte[] buffer)
    {
        _idle.Push(buffer);
        _free.Release();
    }

    private byte[] Pop() => _idle.TryPop(out var b) ? b : GC.AllocateUninitializedArray<byte>(size, pinned: true);
}
