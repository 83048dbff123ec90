using DmEra.Tools;

namespace DmEra.Backup;

/// <summary>
/// <c>dmera backup restore</c>: writes the volume as of one point (its chain from the last full point)
/// to a file, a block device or an NBD export. A new or regular file gets only the data (zeros stay
/// holes); a device or an export gets every byte, zeros written as zeros.
/// </summary>
public static class BackupRestore
{
    private const int Batch = 2 << 20;

    public static long Run(string dir, int? pointNumber, string target, bool quiet, CancellationToken ct) =>
        Run(dir, pointNumber, target, quiet, written: null, ct);

    /// <param name="written">Called after each write to the target with the bytes written so far (tests fail a restore mid-way here).</param>
    internal static long Run(string dir, int? pointNumber, string target, bool quiet, Action<long>? written, CancellationToken ct)
    {
        var manifest = BackupManifest.Load(dir);
        var n = pointNumber ?? manifest.Points.Count - 1;
        var points = manifest.ChainTo(n);
        // Every point read is checked against its recorded checksum first: a point changed behind the manifest's
        // back would otherwise restore wrong bytes without a word (qcow2 has no checksum of its own).
        var problems = BackupVerify.Check(dir, points, withChecksums: true, progress: null, ct);
        if (problems.Count > 0)
            throw new BackupException($"{problems[0]}{(problems.Count > 1 ? $" (and {problems.Count - 1} more problems)" : "")}: point {n} cannot be restored as it was; 'dmera backup verify {dir}' lists every problem");
        using var chain = new Qcow2Chain(points.Select(p => Path.Combine(dir, p.File)));
        if (chain.VirtualSize != points[^1].SizeBytes)
            throw new BackupException($"point {n}: {points[^1].File} is {chain.VirtualSize} bytes, the manifest says {points[^1].SizeBytes}");
        using var sink = RestoreSink.Open(target, chain.VirtualSize);
        using var progress = TerminalProgress.Start($"restore point {n}", chain.VirtualSize, quiet, bytes: true);
        var buffer = new byte[Math.Max(Batch, chain.Unit)];
        var unit = chain.Unit;
        long runStart = 0, runLength = 0;    // pending data in buffer
        long zeroStart = 0, zeroLength = 0;  // pending zeros
        for (long offset = 0; offset < chain.VirtualSize; offset += unit)
        {
            ct.ThrowIfCancellationRequested();
            var length = (int)Math.Min(unit, chain.VirtualSize - offset);
            if (runLength + length > buffer.Length) Flush();
            if (chain.Read(offset, buffer.AsSpan((int)runLength, length)))
            {
                if (zeroLength > 0) FlushZeros();
                if (runLength == 0) runStart = offset;
                runLength += length;
            }
            else
            {
                if (runLength > 0) Flush();
                if (zeroLength == 0) zeroStart = offset;
                zeroLength += length;
            }
            progress?.Report(offset + length);
        }
        Flush();
        FlushZeros();
        sink.Finish();
        return chain.VirtualSize;

        void Flush()
        {
            if (runLength == 0) return;
            sink.Write(runStart, buffer.AsSpan(0, (int)runLength));
            written?.Invoke(runStart + runLength);
            runLength = 0;
        }

        void FlushZeros()
        {
            if (zeroLength == 0) return;
            sink.Zero(zeroStart, zeroLength);
            zeroLength = 0;
        }
    }
}
