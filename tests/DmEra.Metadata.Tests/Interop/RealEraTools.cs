using System.Diagnostics;

namespace DmEra.Metadata.Tests.Interop;

/// <summary>
/// Runs the installed C++ thin-provisioning-tools (era_restore, era_dump, era_check, era_invalidate)
/// in a private temporary directory that <see cref="Dispose"/> removes. Each run is bounded by a
/// timeout; a tool that overruns is killed by its process id, so a hung tool fails one test instead of
/// the whole run.
/// </summary>
public sealed class RealEraTools : IDisposable
{
    /// <summary>A 1M-block dump takes about 2 s here; 60 s means "hung", not "slow".</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// era_restore needs a preallocated output. 0.9.0 refuses files under 8 metadata blocks ("Output
    /// file too small.") and needs room for the trees; 64 MiB (sparse) holds 1M+ blocks with writesets.
    /// </summary>
    public const long DefaultMetadataSize = 64L << 20;

    private static readonly string[] SearchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"];

    private readonly TimeSpan _timeout;

    public RealEraTools(TimeSpan? timeout = null)
    {
        _timeout = timeout ?? DefaultTimeout;
        WorkDir = Directory.CreateTempSubdirectory("dmera-tools-").FullName;
    }

    /// <summary>The private directory for this instance's files.</summary>
    public string WorkDir { get; }

    /// <summary>A path inside <see cref="WorkDir"/>.</summary>
    public string PathOf(string name) => Path.Combine(WorkDir, name);

    /// <summary>The full path of an installed tool, or an exception saying which package provides it.</summary>
    public static string Locate(string tool) =>
        SearchPath.Select(dir => Path.Combine(dir, tool)).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException($"{tool} is not installed; install thin-provisioning-tools (Debian package) to run the interop tests");

    /// <summary>A zero-filled sparse file of <paramref name="size"/> bytes for era_restore to write into.</summary>
    public string CreateMetadataFile(string name, long size = DefaultMetadataSize)
    {
        var path = PathOf(name);
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        file.SetLength(size);
        return path;
    }

    public ToolResult Restore(string xmlPath, string metadataPath) =>
        Run("era_restore", "-i", xmlPath, "-o", metadataPath);

    /// <summary>era_dump to a file (dumps can be hundreds of MB; keep them off the pipe).</summary>
    public ToolResult Dump(string metadataPath, string outputPath, bool logical = false) =>
        logical
            ? Run("era_dump", "--logical", "-o", outputPath, metadataPath)
            : Run("era_dump", "-o", outputPath, metadataPath);

    public ToolResult Check(string metadataPath) => Run("era_check", metadataPath);

    public ToolResult Invalidate(string metadataPath, uint writtenSince) =>
        Run("era_invalidate", "--written-since", writtenSince.ToString(System.Globalization.CultureInfo.InvariantCulture), metadataPath);

    /// <summary>Runs <paramref name="tool"/> with <paramref name="arguments"/> in <see cref="WorkDir"/>.</summary>
    public ToolResult Run(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(Locate(tool))
        {
            WorkingDirectory = WorkDir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        var commandLine = string.Join(' ', new[] { tool }.Concat(arguments));

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {tool}");
        process.StandardInput.Close(); // a tool that reads stdin sees EOF instead of hanging
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(_timeout))
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { /* exited meanwhile */ }
            process.WaitForExit();
            throw new TimeoutException($"`{commandLine}` (pid {process.Id}) did not finish within {_timeout.TotalSeconds:0} s and was killed");
        }
        process.WaitForExit(); // drains the redirected streams
        return new ToolResult(commandLine, process.ExitCode, stdout.Result, stderr.Result);
    }

    public void Dispose()
    {
        try { Directory.Delete(WorkDir, recursive: true); }
        catch (IOException) { /* best effort: a killed tool may still hold a file for a moment */ }
        catch (UnauthorizedAccessException) { }
    }
}
