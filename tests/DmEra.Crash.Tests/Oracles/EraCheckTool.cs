using System.Diagnostics;

namespace DmEra.Crash.Tests.Oracles;

/// <summary>
/// The real era_check (thin-provisioning-tools 0.9.0), and our `dmera check`, on a metadata image written to a temporary file:
/// an independent second opinion on oracle (c). Bounded by a timeout; an overrunning tool is killed by its
/// pid; the file is deleted afterwards.
/// </summary>
public static class EraCheckTool
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static bool IsInstalled => File.Exists(Path);
    private static string Path => new[] { "/usr/sbin/era_check", "/sbin/era_check", "/usr/bin/era_check" }.FirstOrDefault(File.Exists) ?? "/usr/sbin/era_check";

    /// <summary>Null when era_check accepts the image; otherwise its exit code and output.</summary>
    public static string? Check(byte[]?[] image) => Run(image, Path, []);

    /// <summary>The same through our own CLI, `dmera check` (dmera.dll beside the tests), as a user runs it.</summary>
    public static string? CheckWithDmera(byte[]?[] image) =>
        Run(image, "dotnet", [System.IO.Path.Combine(AppContext.BaseDirectory, "dmera.dll"), "check"]);

    private static string? Run(byte[]?[] image, string tool, string[] args)
    {
        var file = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"dmera-crash-{Guid.NewGuid():N}.meta");
        try
        {
            using (var f = new FileStream(file, FileMode.CreateNew, FileAccess.Write))
            {
                f.SetLength(image.LongLength * 4096);
                for (var b = 0; b < image.Length; b++)
                {
                    if (image[b] is not { } data) continue;
                    f.Position = b * 4096L;
                    f.Write(data);
                }
            }
            var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in args) start.ArgumentList.Add(a);
            start.ArgumentList.Add(file);
            using var p = Process.Start(start)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(Timeout))
            {
                p.Kill();
                p.WaitForExit();
                return $"{tool} (pid {p.Id}) timed out and was killed";
            }
            p.WaitForExit();
            return p.ExitCode == 0 ? null : $"{tool} {string.Join(' ', args)} exit {p.ExitCode}: {stdout.Result} {stderr.Result}".Trim();
        }
        finally
        {
            File.Delete(file);
        }
    }
}
