using System.Runtime.InteropServices;
using DmEra.Nbd;
using Mono.Unix.Native;

namespace DmEra.Daemon;

/// <summary>
/// base:allocation for an era volume: where the origin file has holes (lseek SEEK_DATA / SEEK_HOLE on a
/// read-only descriptor of its own, opened without the flock .NET would add, since the engine holds the
/// origin exclusively). A device or a filesystem without hole support reports everything as data.
/// </summary>
public sealed partial class OriginAllocationContext : INbdMetaContext, IDisposable
{
    // Mono.Posix's SeekFlags has no SEEK_DATA / SEEK_HOLE (and refuses values it does not know): call libc.
    private const int SeekData = 3;
    private const int SeekHole = 4;
    private const int Enxio = 6;

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long Lseek(int fd, long offset, int whence);

    private readonly int _fd;
    private readonly long _size;

    private OriginAllocationContext(int fd, long size)
    {
        _fd = fd;
        _size = size;
    }

    public string Name => NbdMetaContexts.BaseAllocation;

    /// <summary>Null when the origin cannot be opened for the query (the context is then not offered).</summary>
    public static OriginAllocationContext? TryOpen(string path, long size)
    {
        var fd = Syscall.open(path, OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC);
        return fd < 0 ? null : new OriginAllocationContext(fd, size);
    }

    public ValueTask GetExtentsAsync(long offset, long length, NbdExtentList extents, CancellationToken cancellationToken)
    {
        var end = Math.Min(_size, offset + length);
        var position = offset;
        while (position < end && !extents.IsFull)
        {
            var data = Lseek(_fd, position, SeekData);
            if (data < 0)
            {
                // ENXIO: only a hole from here to the end of the file.
                if (Marshal.GetLastPInvokeError() == Enxio) data = end;
                else
                {
                    extents.Add(end - position, 0);   // no hole information: all data
                    break;
                }
            }
            if (data > position)
            {
                var holeEnd = Math.Min(data, end);
                extents.Add(holeEnd - position, NbdMetaContexts.StateHole | NbdMetaContexts.StateZero);
                position = holeEnd;
                continue;
            }
            var hole = Lseek(_fd, position, SeekHole);
            var dataEnd = Math.Min(hole < 0 ? end : hole, end);
            extents.Add(dataEnd - position, 0);
            position = dataEnd;
        }
        return ValueTask.CompletedTask;
    }

    public void Dispose() => Syscall.close(_fd);
}
