using System.Diagnostics;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;
using Xunit.Abstractions;

namespace DmEra.Metadata.Tests.Era;

public sealed class SmokeTests(ITestOutputHelper output)
{
    [Fact]
    public void Era_check_accepts_metadata_we_write()
    {
        var dir = Directory.CreateTempSubdirectory("dmera-smoke-");
        var path = Path.Combine(dir.FullName, "meta");
        using (var f = File.Create(path)) f.SetLength(16L << 20);
        using (var md = EraMetadata.Open(FileMetadataDevice.Open(path, true, DeviceLock.Exclusive), 128))
        {
            md.Resize(5000);
            md.Commit();
            md.Rollover();
            md.Commit();
            md.MarkBlocks([1, 2, 3, 100, 4999]);
            md.Commit();
            md.Rollover();
            md.MarkBlocks([7, 8]);
            md.Commit();
            md.TakeSnapshot();
            md.Commit();
            output.WriteLine(md.Status.ToString());
        }
        foreach (var cmd in new[] { "era_check", "era_dump" })
        {
            var p = Process.Start(new ProcessStartInfo(cmd, path) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var so = p.StandardOutput.ReadToEnd();
            var se = p.StandardError.ReadToEnd();
            p.WaitForExit();
            output.WriteLine($"{cmd}: {p.ExitCode}\n{(so.Length > 3000 ? so[..1500] + "..." + so[^1500..] : so)}\n{se}");
            Assert.Equal(0, p.ExitCode);
        }
        dir.Delete(true);
    }
}
