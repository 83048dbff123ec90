using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace DmEra.Backup;

/// <summary>
/// One libnbd connection to one export. libnbd serialises the calls of one handle, so the copier opens
/// several connections (the exports advertise multi-conn) rather than sharing one across threads.
/// Every failure is a <see cref="BackupException"/> carrying libnbd's one-line message.
/// </summary>
public sealed unsafe class NbdConnection : IDisposable
{
    /// <summary>An extent as block status reports it: a length and that context's flags.</summary>
    public readonly record struct Extent(long Length, uint Flags);

    private nint _handle;

    private NbdConnection(nint handle) => _handle = handle;

    public long Size { get; private init; }
    public string? Description { get; private init; }
    public string Uri { get; private init; } = "";

    /// <summary>Connects to the export the URI names, asking for <paramref name="contexts"/> (those the server lacks are simply absent).</summary>
    public static NbdConnection Open(string uri, IReadOnlyList<string> contexts)
    {
        nint h;
        try
        {
            h = LibNbd.Create();
        }
        catch (DllNotFoundException e)
        {
            throw new BackupException("libnbd is not installed (Debian: apt-get install libnbd0)", e);
        }
        if (h == 0) throw new BackupException($"libnbd: {LibNbd.LastError()}");
        try
        {
            foreach (var c in contexts) Check(LibNbd.AddMetaContext(h, c), h, uri);
            Check(LibNbd.SetFullInfo(h, true), h, uri);
            // libnbd zeroes every read buffer before reading into it unless told not to (measured: ~0.13 s of
            // CPU per GiB copied). Safe: libnbd fails a read whose replies did not cover every byte asked for.
            try
            {
                Check(LibNbd.SetPreadInitialize(h, false), h, uri);
            }
            catch (EntryPointNotFoundException)
            {
                // libnbd before 1.12: it always zeroes; slower, still correct.
            }
            // The URI is the user's own (--uri, --to): let it name local files as nbdinfo and nbdcopy do, such as
            // tls-certificates=DIR to trust a private CA, or tls-psk-file=FILE.
            Check(LibNbd.SetUriAllowLocalFile(h, true), h, uri);
            Check(LibNbd.ConnectUri(h, uri), h, uri);
            var size = LibNbd.GetSize(h);
            if (size < 0) Check(-1, h, uri);
            var d = LibNbd.GetExportDescription(h);
            string? description = null;
            if (d != 0)
            {
                description = Marshal.PtrToStringUTF8(d);
                LibNbd.Free(d);
            }
            return new NbdConnection(h) { Size = size, Description = description, Uri = uri };
        }
        catch
        {
            LibNbd.Close(h);
            throw;
        }
    }

    private static void Check(int rc, nint h, string uri)
    {
        if (rc < 0) throw new BackupException($"{uri}: {LibNbd.LastError()}");
    }

    private void Check(int rc)
    {
        if (rc < 0) throw new BackupException($"{Uri}: {LibNbd.LastError()}");
    }

    private nint Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle == 0, this);
            return _handle;
        }
    }

    public bool HasContext(string name) => LibNbd.CanMetaContext(Handle, name) == 1;
    public bool CanZero => LibNbd.CanZero(Handle) == 1;
    public bool IsReadOnly => LibNbd.IsReadOnly(Handle) == 1;

    public void Read(long offset, Span<byte> buffer)
    {
        fixed (byte* p = buffer) Check(LibNbd.Pread(Handle, p, (nuint)buffer.Length, (ulong)offset, 0));
    }

    /// <summary>
    /// Sends a read without waiting for it (nbd_aio_pread) and returns its cookie. libnbd writes the reply into
    /// <paramref name="buffer"/> whenever <see cref="WaitForReplies"/> runs, so the buffer must not move (a pinned
    /// array) and stays lent until <see cref="TryRetire"/> returned the cookie or the connection is disposed.
    /// </summary>
    public long StartRead(long offset, byte* buffer, int length)
    {
        var cookie = LibNbd.AioPread(Handle, buffer, (nuint)length, (ulong)offset, default, 0);
        if (cookie < 0) Check(-1);
        return cookie;
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> for the socket and moves replies into their buffers (nbd_poll).</summary>
    public void WaitForReplies(int timeoutMs)
    {
        // A signal (Ctrl-C) delivered to this thread interrupts poll(2): not a failure, the caller looks again.
        if (LibNbd.Poll(Handle, timeoutMs) < 0 && LibNbd.GetErrno() != EINTR) Check(-1);
    }

    private const int EINTR = 4;

    /// <summary>
    /// Retires one finished read started by <see cref="StartRead"/>: false when none has finished; otherwise its
    /// cookie, and null or libnbd's message when it failed. Its buffer is the caller's again either way.
    /// </summary>
    public bool TryRetire(out long cookie, out string? error)
    {
        error = null;
        cookie = LibNbd.AioPeekCommandCompleted(Handle);
        if (cookie <= 0) return false;
        if (LibNbd.AioCommandCompleted(Handle, cookie) < 0) error = $"{Uri}: {LibNbd.LastError()}";
        return true;
    }

    /// <summary>Dead or closed: libnbd has failed every command in flight and touches no buffer any more.</summary>
    public bool IsDead => LibNbd.AioIsDead(Handle) == 1 || LibNbd.AioIsClosed(Handle) == 1;

    /// <summary>
    /// Keeps buffers of reads given up before they finished alive until the handle is closed: libnbd may still
    /// write into them, so neither the collector nor a pool may have them back before then.
    /// </summary>
    public void KeepUntilClosed(byte[] buffer)
    {
        lock (_abandoned) _abandoned.Add(buffer);
    }

    private readonly List<byte[]> _abandoned = [];

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data) Check(LibNbd.Pwrite(Handle, p, (nuint)data.Length, (ulong)offset, 0));
    }

    public void Zero(long offset, long length) => Check(LibNbd.Zero(Handle, (ulong)length, (ulong)offset, 0));

    public void Flush()
    {
        if (LibNbd.CanFlush(Handle) == 1) Check(LibNbd.Flush(Handle, 0));
    }

    /// <summary>
    /// One block-status request over [offset, offset + length): each selected context's extents, in order,
    /// as the server sent them (the last may run past the request; the list may stop short of it).
    /// </summary>
    public Dictionary<string, List<Extent>> BlockStatus(long offset, long length)
    {
        var result = new Dictionary<string, List<Extent>>(StringComparer.Ordinal);
        var gc = GCHandle.Alloc(result);
        try
        {
            var cb = new LibNbd.ExtentCallback { Callback = &OnExtents, UserData = GCHandle.ToIntPtr(gc) };
            Check(LibNbd.BlockStatus(Handle, (ulong)length, (ulong)offset, cb, 0));
        }
        finally
        {
            gc.Free();
        }
        return result;
    }

    [UnmanagedCallersOnly]
    private static int OnExtents(nint userData, byte* context, ulong offset, uint* entries, nuint count, int* error)
    {
        try
        {
            var result = (Dictionary<string, List<Extent>>)GCHandle.FromIntPtr(userData).Target!;
            var name = Marshal.PtrToStringUTF8((nint)context) ?? "";
            if (!result.TryGetValue(name, out var list)) result[name] = list = [];
            for (nuint i = 0; i + 1 < count; i += 2) list.Add(new Extent(entries[i], entries[i + 1]));
            return 0;
        }
        catch
        {
            *error = 5;    // EIO: never let an exception cross into libnbd
            return -1;
        }
    }

    public void Dispose()
    {
        if (_handle == 0) return;
        LibNbd.Shutdown(_handle, 0);
        LibNbd.Close(_handle);
        _handle = 0;
        lock (_abandoned) _abandoned.Clear();
    }
}
