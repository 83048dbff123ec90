using System.Diagnostics;
using System.Text;

namespace DmEra.Nbd.Tests.Support;

/// <summary>Runs a real client to completion with a time bound; on timeout the process (and its children) is killed by id.</summary>
internal static class ProcessRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string Describe(string what) => $"{what} exited {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
    }

    public static async Task<Result> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        // The Debian python3-libnbd lives under /usr/bin; make sure tools that exec python find that one first.
        psi.Environment["PATH"] = "/usr/bin:/bin:" + Environment.GetEnvironmentVariable("PATH");
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {fileName}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await process.WaitForExitAsync();
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish within {timeout}:\n{await stdout}\n{await stderr}");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    public static Task<Result> RunAsync(string fileName, params string[] arguments) => RunAsync(fileName, arguments, TimeSpan.FromSeconds(60));

    /// <summary>Runs a libnbd Python script with the system interpreter (the first python3 on PATH may lack libnbd).</summary>
    public static async Task<Result> PythonAsync(string script, TimeSpan? timeout = null, params string[] arguments)
    {
        string path = Path.Combine(Path.GetTempPath(), $"dmera-nbd-{Guid.NewGuid():N}.py");
        await File.WriteAllTextAsync(path, script, Encoding.UTF8);
        try
        {
            return await RunAsync("/usr/bin/python3", [path, .. arguments], timeout ?? TimeSpan.FromSeconds(60));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
