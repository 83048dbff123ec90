namespace DmEra.Storage;

/// <summary>Where a file has holes (lseek SEEK_DATA / SEEK_HOLE), for base:allocation maps.</summary>
public interface IHoleMap
{
    long Size { get; }

    /// <summary>The next data offset at or after <paramref name="offset"/>; -1 when only a hole remains; <paramref name="offset"/> itself when the filesystem cannot tell.</summary>
    long NextData(long offset);

    /// <summary>The next hole at or after <paramref name="offset"/> (the end of the file counts as one).</summary>
    long NextHole(long offset);
}
