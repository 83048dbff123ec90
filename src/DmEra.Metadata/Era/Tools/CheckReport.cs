namespace DmEra.Metadata.Era.Tools;

/// <summary>What a metadata check found: errors make the metadata unusable, warnings (leaks) do not.</summary>
public sealed class CheckReport
{
    private readonly List<string> _errors = new();
    private readonly List<string> _warnings = new();

    public IReadOnlyList<string> Errors => _errors;
    public IReadOnlyList<string> Warnings => _warnings;
    public bool IsClean => _errors.Count == 0;

    public void Error(string message) => _errors.Add(message);
    public void Warning(string message) => _warnings.Add(message);
}
