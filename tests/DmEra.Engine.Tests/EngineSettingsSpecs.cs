using Akka.Configuration;

namespace DmEra.Engine.Tests;

public sealed class EngineSettingsSpecs
{
    [Fact]
    public void The_built_in_defaults_parse_to_the_documented_values()
    {
        var s = EngineSettings.Create(EngineSettings.DefaultConfig.GetConfig("dmera.engine"));
        Assert.Equal(TimeSpan.FromMicroseconds(300), s.GroupCommitLinger);
        Assert.Equal(16384, s.MaxBlocksPerCommit);
        Assert.Equal(1024, s.MaxPendingFirstWrites);
        Assert.Equal(32576, s.DigestBitsPerStep);
        Assert.Equal(TimeSpan.FromSeconds(120), s.StopTimeout);
    }

    [Fact]
    public void The_repository_akka_hocon_matches_the_built_in_defaults()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "DmEra.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var file = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(dir!.FullName, "akka.hocon")));
        Assert.Equal(
            EngineSettings.Create(EngineSettings.DefaultConfig.GetConfig("dmera.engine")),
            EngineSettings.Create(file.GetConfig("dmera.engine")));
        Assert.Equal("PinnedDispatcher", file.GetString("dmera.engine.metadata-dispatcher.type"));
    }
}
