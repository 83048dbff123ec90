namespace DmEra.Metadata.Tests.Interop;

/// <summary>What one run of a real tool did: the command line, its exit code and both outputs.</summary>
public sealed record ToolResult(string CommandLine, int ExitCode, string StdOut, string StdErr)
{
    /// <summary>Throws with the whole transcript unless the tool exited 0; returns this for chaining.</summary>
    public ToolResult EnsureSuccess()
    {
        if (ExitCode != 0)
            throw new InvalidOperationException($"`{CommandLine}` exited {ExitCode}\nstdout: {StdOut}\nstderr: {StdErr}");
        return this;
    }

    public override string ToString() => $"$ {CommandLine}\n[exit {ExitCode}]\n--- stdout\n{StdOut}--- stderr\n{StdErr}";
}
