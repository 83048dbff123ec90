namespace DmEra.Engine.Tests.Backup;

/// <summary>An in-memory origin whose next read can be held, to freeze a save halfway.</summary>
internal sealed class StallingOrigin(MemoryDevice inner) : IBlockDevice
{
    private readonly TaskCompletionSource _stalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _armed;

    public StallingOrigin(long size) : this(new MemoryDevice(size)) { }

    public MemoryDevice Inner { get; } = inner;
    public Task Stalled => _stalled.Task;
    public long SizeBytes => Inner.SizeBytes;
    public void StallNextRead() => Volatile.Write(ref _armed, 1);
    public void Release() => _release.TrySetResult();

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer)
    {
        if (Interlocked.Exchange(ref _armed, 0) == 1)
        {
            _stalled.TrySetResult();
            await _release.Task;
        }
        Inner.Read(offset, buffer.Span);
    }

    public void Read(long offset, Span<byte> buffer) => Inner.Read(offset, buffer);
    public void Write(long offset, ReadOnlySpan<byte> data) => Inner.Write(offset, data);
    public ValueTask WriteZeroesAsync(long offset, long length) => ((IBlockDevice)Inner).WriteZeroesAsync(offset, length);
    public void Flush() => Inner.Flush();
    public void Dispose() => Inner.Dispose();
}
