using System.Runtime.InteropServices;

namespace DmEra.Backup;

/// <summary>
/// The few libnbd (libnbd.so.0, Debian's libnbd0) entry points the backup client uses. libnbd rather than
/// our own client: it already speaks every transport a URI can name (TCP, Unix, TLS with X.509 or PSK),
/// structured replies and block status, and it is the client the reference tools (nbdcopy, nbdinfo) use.
/// </summary>
internal static unsafe partial class LibNbd
{
    private const string Lib = "libnbd.so.0";

    /// <summary>nbd_extent_callback, passed by value: the callback, its user data, and a free function (unused).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ExtentCallback
    {
        public delegate* unmanaged<nint, byte*, ulong, uint*, nuint, int*, int> Callback;
        public nint UserData;
        public nint Free;
    }

    /// <summary>nbd_completion_callback, passed by value; all zero (NBD_NULL_COMPLETION): the command is retired with nbd_aio_command_completed.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CompletionCallback
    {
        public nint Callback;
        public nint UserData;
        public nint Free;
    }

    [LibraryImport(Lib, EntryPoint = "nbd_create")] public static partial nint Create();
    [LibraryImport(Lib, EntryPoint = "nbd_close")] public static partial void Close(nint h);
    [LibraryImport(Lib, EntryPoint = "nbd_get_error")] public static partial nint GetError();
    [LibraryImport(Lib, EntryPoint = "nbd_get_errno")] public static partial int GetErrno();
    [LibraryImport(Lib, EntryPoint = "nbd_set_export_name", StringMarshalling = StringMarshalling.Utf8)] public static partial int SetExportName(nint h, string name);
    [LibraryImport(Lib, EntryPoint = "nbd_add_meta_context", StringMarshalling = StringMarshalling.Utf8)] public static partial int AddMetaContext(nint h, string name);
    [LibraryImport(Lib, EntryPoint = "nbd_set_full_info")] public static partial int SetFullInfo(nint h, [MarshalAs(UnmanagedType.U1)] bool request);
    [LibraryImport(Lib, EntryPoint = "nbd_set_pread_initialize")] public static partial int SetPreadInitialize(nint h, [MarshalAs(UnmanagedType.U1)] bool request);
    [LibraryImport(Lib, EntryPoint = "nbd_set_uri_allow_local_file")] public static partial int SetUriAllowLocalFile(nint h, [MarshalAs(UnmanagedType.U1)] bool allow);
    [LibraryImport(Lib, EntryPoint = "nbd_connect_uri", StringMarshalling = StringMarshalling.Utf8)] public static partial int ConnectUri(nint h, string uri);
    [LibraryImport(Lib, EntryPoint = "nbd_get_export_description")] public static partial nint GetExportDescription(nint h);
    [LibraryImport(Lib, EntryPoint = "nbd_get_size")] public static partial long GetSize(nint h);
    [LibraryImport(Lib, EntryPoint = "nbd_can_meta_context", StringMarshalling = StringMarshalling.Utf8)] public static partial int CanMetaContext(nint h, string name);
    [LibraryImport(Lib, EntryPoint = "nbd_can_zero")] public static partial int CanZero(nint h);
    [LibraryImport(Lib, EntryPoint = "nbd_can_flush")] public static partial int CanFlush(nint h);
    [LibraryImport(Lib, EntryPoint = "nbd_is_read_only")] public static partial int IsReadOnly(nint h);
    [LibraryImport(Lib, EntryPoint = "nbd_pread")] public static partial int Pread(nint h, byte* buf, nuint count, ulong offset, uint flags);
    [LibraryImport(Lib, EntryPoint = "nbd_pwrite")] public static partial int Pwrite(nint h, byte* buf, nuint count, ulong offset, uint flags);
    [LibraryImport(Lib, EntryPoint = "nbd_zero")] public static partial int Zero(nint h, ulong count, ulong offset, uint flags);
    [LibraryImport(Lib, EntryPoint = "nbd_flush")] public static partial int Flush(nint h, uint flags);
    [LibraryImport(Lib, EntryPoint = "nbd_block_status")] public static partial int BlockStatus(nint h, ulong count, ulong offset, ExtentCallback callback, uint flags);
    [LibraryImport(Lib, EntryPoint = "nbd_aio_pread")] public static partial long AioPread(nint h, byte* buf, nuint count, ulong offset, CompletionCallback completion, uint flags);
    [LibraryImport(Lib, EntryPoint = "nbd_poll")] public static partial int Poll(nint h, int timeoutMs);
    [LibraryImport(Lib, EntryPoint = "nbd_aio_peek_command_completed")] public static partial long AioPeekCommandCompleted(nint h);
    [LibraryImport(Lib, EntryPoint = "nbd_aio_command_completed")] public static partial int AioCommandCompleted(nint h, long cookie);
    [LibraryImport(Lib, EntryPoint = "nbd_aio_is_dead")] public static partial int AioIsDead(nint h);
    [LibraryImport(Lib, EntryPoint = "nbd_aio_is_closed")] public static partial int AioIsClosed(nint h);
    [LibraryImport(Lib, EntryPoint = "nbd_shutdown")] public static partial int Shutdown(nint h, uint flags);
    [LibraryImport("libc", EntryPoint = "free")] public static partial void Free(nint p);

    /// <summary>libnbd's message for the last failed call on this thread.</summary>
    public static string LastError() => Marshal.PtrToStringUTF8(GetError()) ?? "unknown libnbd error";
}
