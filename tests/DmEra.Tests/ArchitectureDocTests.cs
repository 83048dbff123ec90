using System.Text.RegularExpressions;

namespace DmEra.Tests;

/// <summary>docs/architecture.md stays true: every file or folder it names in backticks exists.</summary>
public sealed class ArchitectureDocTests
{
    // A backticked path: starts at a top-level folder of the repository, or is a relative path inside the
    // engine's or the metadata project's folder as the page writes them (Actors/..., Era/...).
    private static readonly Regex Path_ = new(@"`((?:src|tests|bench|docs)/[^`\s]+|akka\.hocon)`");
    private static readonly Regex EngineRelative = new(@"\b((?:Actors|Tracking)/[A-Za-z.]+\.cs)\b");
    private static readonly Regex MetadataRelative = new(@"`(Era/[A-Za-z.]+\.cs)`");

    [Fact]
    public void Every_path_the_architecture_page_names_exists()
    {
        var root = RepositoryRoot();
        var text = File.ReadAllText(Path.Combine(root, "docs", "architecture.md"));
        var named = Path_.Matches(text).Select(m => m.Groups[1].Value.TrimEnd('/'))
            .Concat(EngineRelative.Matches(text).Select(m => "src/DmEra.Engine/" + m.Groups[1].Value))
            .Concat(MetadataRelative.Matches(text).Select(m => "src/DmEra.Metadata/" + m.Groups[1].Value))
            .Distinct().ToList();
        Assert.True(named.Count > 40, $"expected the page to name its files; found {named.Count}");
        var missing = named.Where(p => !File.Exists(Path.Combine(root, p)) && !Directory.Exists(Path.Combine(root, p))).ToList();
        Assert.True(missing.Count == 0, "docs/architecture.md names paths that do not exist: " + string.Join(", ", missing));
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "DmEra.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root (DmEra.sln) not found above the test binaries");
    }
}
