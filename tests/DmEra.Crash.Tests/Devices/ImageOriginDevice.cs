using DmEra.Storage.Devices;

namespace DmEra.Crash.Tests.Devices;

/// <summary>A post-crash origin image served to the recovered volume (recovery never writes the origin; if it does, the image shows it).</summary>
public sealed class ImageOriginDevice(byte[] image, long sizeBytes) : IOriginDevice
{
    public long SizeBytes => sizeBytes;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer)
    {
        image.AsSpan((int)offset, buffer.Length).CopyTo(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data)
    {
        data.Span.CopyTo(image.AsSpan((int)offset));
        return ValueTask.CompletedTask;
    }

    public ValueTask TrimAsync(long offset, long length) => WriteZeroesAsync(offset, length);

    public ValueTask WriteZeroesAsync(long offset, long length)
    {
        image.AsSpan((int)offset, (int)length).Clear();
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync() => ValueTask.CompletedTask;
    public void Dispose() { }
}
