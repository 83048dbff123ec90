using DmEra.Backup;
using DmEra.Tests.Daemon;
using DmEra.Tests.Tools;

namespace DmEra.Tests.Backup;

/// <summary>Test helpers over a real daemon's volume: known patterns written and read over NBD (libnbd), eras via the admin socket.</summary>
internal static class BackupVolume
{
    public const int Block = 64 << 10;    // the volumes' 128-sector tracking blocks

    /// <summary>Writes a block-sized pattern (seeded by block and generation) at each block; returns what the volume now holds there.</summary>
    public static void WriteBlocks(string uri, byte[] expected, IEnumerable<long> blocks, int generation)
    {
        using var nbd = NbdConnection.Open(uri, []);
        foreach (var b in blocks)
        {
            var data = Pattern(b, generation);
            nbd.Write(b * Block, data);
            data.CopyTo(expected, b * Block);
        }
        nbd.Flush();
    }

    public static byte[] Pattern(long block, int generation)
    {
        var data = new byte[Block];
        new Random((int)(block * 7919 + generation)).NextBytes(data);
        return data;
    }

    public static uint Checkpoint(DaemonProcess d, string volume)
    {
        var r = d.Admin("message", volume, "checkpoint");
        if (r.ExitCode != 0) throw new InvalidOperationException(r.ToString());
        return uint.Parse(r.StdOut.Trim().Split(' ')[^1]);
    }

    public static byte[] Convert(TempDir dir, string qcow2)
    {
        var raw = dir.File(Path.GetFileName(qcow2) + $".{Guid.NewGuid():N}.raw");
        var r = DmeraProcess.Run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", qcow2, raw);
        if (r.ExitCode != 0) throw new InvalidOperationException(r.ToString());
        var bytes = File.ReadAllBytes(raw);
        File.Delete(raw);
        return bytes;
    }

    public static void AssertCheckClean(string qcow2)
    {
        var r = DmeraProcess.Run("qemu-img", "check", "-f", "qcow2", qcow2);
        Xunit.Assert.True(r.ExitCode == 0, r.ToString());
    }
}
