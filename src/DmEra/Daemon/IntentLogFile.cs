using DmEra.Metadata.PersistentData;
using Mono.Unix.Native;

namespace DmEra.Daemon;

/// <summary>
/// A volume's intent log file, <c>METADATA.log</c> beside its metadata (issue 18). Created at
/// dmera.daemon.intent-log-bytes, written with zeros and flushed, so that every append only overwrites
/// written blocks (no allocation, no journal commit in its flush). An existing log is always used, also
/// when the setting is 0: it may hold marks the metadata does not have yet.
/// <para>The daemon opens it with O_DIRECT, so that an append is one pwritev2(RWF_DSYNC), durable as it
/// returns, instead of a write and an fdatasync (<see cref="MetadataDevice.OpenWriteThrough"/>; measured in
/// bench/results/firstwrite-2026-12-03e.md). Where the filesystem refuses direct I/O the log is written and
/// fdatasynced as before, and the caller logs why.</para>
/// </summary>
public static class IntentLogFile
{
    public static string PathFor(string metadataPath) => metadataPath + ".log";

    /// <summary>
    /// Opens (creating it if asked and missing) the log of <paramref name="metadataPath"/>, or null when there
    /// is none. <paramref name="directRefusal"/> says why the log is not write-through (O_DIRECT refused by
    /// the filesystem); <paramref name="direct"/> false opens it for write + fdatasync without trying (tests of that path).
    /// </summary>
    public static MetadataDevice? Open(string metadataPath, long createBytes, out string? directRefusal, bool direct = true)
    {
        directRefusal = null;
        var path = PathFor(metadataPath);
        if (!File.Exists(path))
        {
            if (createBytes <= 0) return null;
            Create(path, createBytes);
        }
        return direct ? MetadataDevice.OpenWriteThrough(path, out directRefusal) : MetadataDevice.Open(path, writable: true, DeviceLock.Exclusive);
    }

    private static void Create(string path, long createBytes)
    {
        var tmp = path + ".new";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            var zeros = new byte[1 << 20];
            for (long done = 0; done < createBytes; done += zeros.Length)
                f.Write(zeros, 0, (int)Math.Min(zeros.Length, createBytes - done));
            f.Flush(flushToDisk: true);
        }
        // Renamed whole, so a crash while creating it never leaves a short log under the real name.
        File.Move(tmp, path);
        var dir = Syscall.open(Path.GetDirectoryName(Path.GetFullPath(path))!, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY);
        if (dir >= 0)
        {
            Syscall.fsync(dir);
            Syscall.close(dir);
        }
    }
}
