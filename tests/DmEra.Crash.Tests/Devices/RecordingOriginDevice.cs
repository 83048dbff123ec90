using DmEra.Crash.Tests.Live;
using DmEra.Crash.Tests.Recording;
using DmEra.Crash.Tests.Trace;
using DmEra.Storage.Devices;
using DmEra.Testing;

namespace DmEra.Crash.Tests.Devices;

/// <summary>
/// The origin of a recorded workload. Each write, trim, zeroing and flush appends a submit and, later, a
/// completion to the global trace, with the client request that caused it; between the two a seeded
/// latency lets other requests overtake it (FoundationDB's random delays, TigerBeetle's latency model),
/// which is what opens the race windows. Trims are modelled as zeroing. The data lands in the live image
/// at completion; what a crash keeps is decided offline from the trace.
/// </summary>
public sealed class RecordingOriginDevice : IBlockDevice
{
    private readonly IoTrace _trace;
    private readonly LiveInvariants? _live;
    private readonly byte[] _image;
    private readonly Func<int>? _latency;

    public RecordingOriginDevice(IoTrace trace, byte[] initial, long sizeBytes, LiveInvariants? live = null, Func<int>? latency = null)
    {
        _trace = trace;
        _image = (byte[])initial.Clone();
        SizeBytes = sizeBytes;
        _live = live;
        _latency = latency;
    }

    public long SizeBytes { get; private set; }

    /// <summary>Injected faults (shared with the engine specs): a lying flush (harness self-test) is not recorded, so FLUSH and FUA make nothing durable.</summary>
    public DeviceFaults Faults { get; init; } = new();

    /// <summary>Called before each write, trim or zeroing is submitted (a workload checks an ordering rule there).</summary>
    public Action<long, long>? BeforeModify { get; set; }

    /// <summary>The origin grew or shrank (picked up by the volume at its next activation).</summary>
    public void Resize(long sizeBytes)
    {
        if (sizeBytes > _image.LongLength) throw new ArgumentOutOfRangeException(nameof(sizeBytes), "beyond the image capacity");
        SizeBytes = sizeBytes;
        _trace.Add(seq => new TraceEvent(seq, EventKind.OriginResized) { Length = sizeBytes });
    }

    public void Read(long offset, Span<byte> buffer)
    {
        lock (_trace.Gate) _image.AsSpan((int)offset, buffer.Length).CopyTo(buffer);
    }

    /// <summary>The engine writes and flushes an origin asynchronously; a synchronous caller waits for the same recorded I/O.</summary>
    public void Write(long offset, ReadOnlySpan<byte> data) => WriteAsync(offset, data.ToArray()).AsTask().GetAwaiter().GetResult();

    public void Flush() => FlushAsync().AsTask().GetAwaiter().GetResult();

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data) =>
        ModifyAsync(OriginOp.Write, offset, data.Length, data.ToArray());

    public ValueTask TrimAsync(long offset, long length) => ModifyAsync(OriginOp.Trim, offset, length, null);

    public ValueTask WriteZeroesAsync(long offset, long length) => ModifyAsync(OriginOp.WriteZeroes, offset, length, null);

    private async ValueTask ModifyAsync(OriginOp op, long offset, long length, byte[]? data)
    {
        BeforeModify?.Invoke(offset, length);
        var cause = RequestContext.Current;
        var id = _trace.NewId();
        lock (_trace.Gate)
        {
            if (!_trace.IsFrozen) _live?.OnOriginSubmit(cause?.Id ?? -1, cause?.Era ?? 0, offset, length, $"origin {op}");
            _trace.Add(seq => new TraceEvent(seq, EventKind.OriginSubmit)
                { Id = id, Cause = cause?.Id ?? -1, Op = op, Offset = offset, Length = length, Data = data });
        }
        await LatencyAsync();
        lock (_trace.Gate)
        {
            if (data is null) _image.AsSpan((int)offset, (int)length).Clear();
            else data.CopyTo(_image.AsSpan((int)offset));
            _trace.Add(seq => new TraceEvent(seq, EventKind.OriginComplete) { Id = id });
        }
    }

    public async ValueTask FlushAsync()
    {
        if (!Faults.BeforeFlush("origin")) return;
        var cause = RequestContext.Current;
        var id = _trace.NewId();
        _trace.Add(seq => new TraceEvent(seq, EventKind.OriginFlushSubmit) { Id = id, Cause = cause?.Id ?? -1, Op = OriginOp.Flush });
        await LatencyAsync();
        _trace.Add(seq => new TraceEvent(seq, EventKind.OriginFlushComplete) { Id = id });
    }

    private async ValueTask LatencyAsync()
    {
        var ms = _latency?.Invoke() ?? 0;
        if (ms > 0) await Task.Delay(ms);
        else if (ms == 0 && _latency is not null) await Task.Yield();
    }

    public byte[] Image()
    {
        lock (_trace.Gate) return (byte[])_image.Clone();
    }

    public void Dispose() { }
}
