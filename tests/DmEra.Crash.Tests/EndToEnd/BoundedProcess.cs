using System.Diagnostics;

namespace DmEra.Crash.Tests.EndToEnd;

public sealed record ProcessResult(int ExitCode, string StdOut, string StdErr)
{
    public override string ToString() => $"exit {ExitCode}: {StdOut.Trim()} {StdErr.Trim()}";
}

/// <summary>Runs a tool to completion with a time bound; one that overruns is killed by its pid.</summary>
public static class BoundedProcess
{
    public static ProcessResult Run(TimeSpan limit, string file, params string[] args)
    {
        using var p = Process.Start(StartInfo(file, args))!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new TimeoutException($"{file} {string.Join(' ', args)} (pid {p.Id}) did not finish within {limit.TotalSeconds:0} s and was killed");
        }
        p.WaitForExit();
        return new ProcessResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    public static ProcessStartInfo StartInfo(string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }
}
