using DmEra.Storage;

namespace DmEra.Nbd.Exports;

/// <summary>base:allocation extents from a file's holes: a hole reads as zeroes, everything else is data.</summary>
public static class FileAllocationMap
{
    public static void Describe(IHoleMap file, long offset, long length, NbdExtentList extents)
    {
        long end = Math.Min(file.Size, offset + length);
        while (offset < end && !extents.IsFull)
        {
            long data = file.NextData(offset);
            if (data < 0 || data >= end)
            {
                extents.Add(end - offset, NbdMetaContexts.StateHole | NbdMetaContexts.StateZero);
                break;
            }
            if (data > offset)
            {
                extents.Add(data - offset, NbdMetaContexts.StateHole | NbdMetaContexts.StateZero);
                offset = data;
                continue;
            }
            long hole = Math.Min(Math.Max(file.NextHole(offset), offset + 1), end);
            extents.Add(hole - offset, 0);
            offset = hole;
        }
    }
}
