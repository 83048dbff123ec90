using DmEra.Storage.Devices;

namespace DmEra.Engine.Origin;

/// <summary>
/// Remembers the first failed origin flush and fails every later one. After a failed fdatasync Linux may
/// drop the dirty pages it could not write and clear the error, so the next fdatasync succeeds although
/// data acknowledged before is gone (PostgreSQL's "fsyncgate"). A client's FLUSH must never report that
/// success: the volume stops acknowledging flushes until an operator restarts it.
/// </summary>
internal sealed class OriginSyncLatch(string volume, IBlockDevice inner) : IBlockDevice
{
    private OriginSyncFailedException? _failure;

    /// <summary>Why flushes fail, or null while the origin has never failed one.</summary>
    public string? Failure => Volatile.Read(ref _failure)?.Message;

    public long SizeBytes => inner.SizeBytes;

    public void Read(long offset, Span<byte> buffer) => inner.Read(offset, buffer);

    public void Write(long offset, ReadOnlySpan<byte> data) => inner.Write(offset, data);

    public void Write(long offset, IReadOnlyList<ReadOnlyMemory<byte>> pieces) => inner.Write(offset, pieces);

    public void Flush()
    {
        if (Volatile.Read(ref _failure) is { } failed) throw failed;
        try
        {
            inner.Flush();
        }
        catch (Exception e) when (e is not ObjectDisposedException)
        {
            throw Latch(e);
        }
    }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer) => inner.ReadAsync(offset, buffer);

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data) => inner.WriteAsync(offset, data);

    public ValueTask TrimAsync(long offset, long length) => inner.TrimAsync(offset, length);

    public ValueTask WriteZeroesAsync(long offset, long length) => inner.WriteZeroesAsync(offset, length);

    public ValueTask FlushAsync()
    {
        if (Volatile.Read(ref _failure) is { } failed) return ValueTask.FromException(failed);
        ValueTask flush;
        try
        {
            flush = inner.FlushAsync();
        }
        catch (Exception e) when (e is not ObjectDisposedException)
        {
            return ValueTask.FromException(Latch(e));
        }
        return flush.IsCompletedSuccessfully ? flush : WatchAsync(flush);
    }

    private async ValueTask WatchAsync(ValueTask flush)
    {
        try
        {
            await flush.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not ObjectDisposedException and not OperationCanceledException)
        {
            throw Latch(e);
        }
    }

    private OriginSyncFailedException Latch(Exception cause)
    {
        var failure = new OriginSyncFailedException(
            $"volume {volume}: origin fdatasync failed at {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss}Z ({cause.Message}); " +
            "writes acknowledged before it may be lost, so every FLUSH and FUA write fails until the volume is restarted", cause);
        return Interlocked.CompareExchange(ref _failure, failure, null) ?? failure;
    }

    public void Dispose() => inner.Dispose();
}

/// <summary>A flush refused because an earlier origin fdatasync failed (EIO to the client).</summary>
public sealed class OriginSyncFailedException(string message, Exception inner) : IOException(message, inner);
