namespace DmEra.Backup;

/// <summary>
/// <c>dmera backup verify</c>: re-reads every point and checks it against the manifest: the file is
/// there, its checksum is the one recorded when it was written (so any change behind the manifest's back
/// shows), it opens as qcow2 with the recorded size, and its backing file is the point before it.
/// <c>restore</c> runs the same checks, checksums included, on the points it reads; <c>create</c> runs the
/// cheap ones (no checksum) on the chain an incremental would extend.
/// </summary>
public static class BackupVerify
{
    /// <summary>One line per problem; empty when the chain is sound.</summary>
    public static IReadOnlyList<string> Run(string dir, IProgress<long>? progress, CancellationToken ct) =>
        Check(dir, BackupManifest.Load(dir).Points, withChecksums: true, progress, ct);

    /// <summary>The problems of <paramref name="points"/>; checksums read every byte, the rest only headers.</summary>
    public static IReadOnlyList<string> Check(string dir, IEnumerable<BackupPoint> points, bool withChecksums,
        IProgress<long>? progress, CancellationToken ct)
    {
        var problems = new List<string>();
        long done = 0;
        foreach (var p in points)
        {
            ct.ThrowIfCancellationRequested();
            var path = Path.Combine(dir, p.File);
            if (!File.Exists(path))
            {
                problems.Add($"point {p.Point}: {p.File} is missing");
                continue;
            }
            if (withChecksums)
            {
                var sum = FileChecksum.Like(p.Checksum, path, ct);
                if (sum != p.Checksum)
                    problems.Add($"point {p.Point}: {p.File} has changed since it was written (checksum {sum}, the manifest says {p.Checksum})");
            }
            try
            {
                using var image = Qcow2Image.Open(path);
                if (image.VirtualSize != p.SizeBytes)
                    problems.Add($"point {p.Point}: {p.File} is {image.VirtualSize} bytes, the manifest says {p.SizeBytes}");
                if (image.BackingFile != p.Backing)
                    problems.Add($"point {p.Point}: {p.File} is backed by '{image.BackingFile ?? "nothing"}', the manifest says '{p.Backing ?? "nothing"}'");
            }
            catch (BackupException e)
            {
                problems.Add($"point {p.Point}: {e.Message}");
            }
            done += new FileInfo(path).Length;
            progress?.Report(done);
        }
        return problems;
    }
}
