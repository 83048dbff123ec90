using DmEra.Engine.Backup;

namespace DmEra.Engine.Tests.Backup;

/// <summary>A store whose next write can be held after the save has passed its last check.</summary>
internal sealed class StallingStore(SavedCopyFile inner) : ISavedCopyFile
{
    private readonly TaskCompletionSource _stalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _armed;
    public Task Stalled => _stalled.Task;
    public void StallNextWrite() => Volatile.Write(ref _armed, 1);
    public void Unstall() => _release.TrySetResult();
    public string Path => inner.Path;
    public void WriteHeader(long heldRoot, uint era) => inner.WriteHeader(heldRoot, era);
    public List<(long Offset, int Length)> Writes { get; } = new();
    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data)
    {
        lock (Writes) Writes.Add((offset, data.Length));
        if (Interlocked.Exchange(ref _armed, 0) == 1)
        {
            _stalled.TrySetResult();
            await _release.Task;
        }
        await inner.WriteAsync(offset, data);
    }
    public ValueTask ReadAsync(long offset, Memory<byte> buffer) => inner.ReadAsync(offset, buffer);
    public void Release() => inner.Release();
    public void Delete() => inner.Delete();
    public void Dispose() => inner.Dispose();
}
