using Akka.Configuration;

namespace DmEra.Engine.Tests;

public sealed class EngineSettingsSpecs
{
    [Fact]
    public void The_defaults_are_the_shipped_akka_hocon_values()
    {
        var s = EngineSettings.Create(EngineSettings.DefaultConfig.GetConfig("dmera.engine"));
        Assert.Equal(TimeSpan.FromMicroseconds(300), s.GroupCommitLinger);
        Assert.Equal(16384, s.MaxBlocksPerCommit);
        Assert.Equal(1024, s.MaxPendingFirstWrites);
        Assert.Equal(64L << 20, s.WriteBackBytes);
        Assert.Equal(0.1, s.ViewReadShare);
        Assert.Equal(32576, s.DigestBitsPerStep);
        Assert.Equal(TimeSpan.FromSeconds(120), s.StopTimeout);
        Assert.Equal("PinnedDispatcher", EngineSettings.DefaultConfig.GetString("dmera.engine.metadata-dispatcher.type"));
        Assert.Equal(100, EngineSettings.DefaultConfig.GetInt("dmera.engine.metadata-dispatcher.throughput"));
    }

    [Fact]
    public void The_embedded_defaults_are_the_repository_akka_hocon()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "DmEra.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var file = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(dir!.FullName, "akka.hocon")));
        Assert.Equal(EngineSettings.Create(EngineSettings.DefaultConfig.GetConfig("dmera.engine")),
            EngineSettings.Create(file.GetConfig("dmera.engine")));
    }

    [Fact]
    public void A_partial_engine_block_takes_the_rest_from_the_shipped_file()
    {
        var s = EngineSettings.Create(ConfigurationFactory.ParseString("max-query-blocks = 7"));
        Assert.Equal(7, s.MaxQueryBlocks);
        Assert.Equal(16384, s.MaxBlocksPerCommit);
    }

    [Fact]
    public void The_fallback_leaves_akka_s_own_settings_alone()
    {
        Assert.False(EngineSettings.DefaultConfig.HasPath("akka"));
        Assert.False(EngineSettings.DefaultConfig.HasPath("dmera.daemon"));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1.5")]
    [InlineData("-0.1")]
    public void A_view_read_share_outside_zero_to_one_is_refused_when_read_saying_what_is_allowed(string share)
    {
        var e = Assert.Throws<ConfigurationException>(() => EngineSettings.Create(ConfigurationFactory.ParseString($"view-read-share = {share}")));
        Assert.Contains("view-read-share must be above 0 and at most 1", e.Message);
    }

    [Theory]
    [InlineData("5s")]
    [InlineData("11ms")]
    public void A_group_commit_linger_past_10ms_is_refused_when_read_saying_what_is_allowed(string linger)
    {
        var e = Assert.Throws<ConfigurationException>(() => EngineSettings.Create(ConfigurationFactory.ParseString($"group-commit-linger = {linger}")));
        Assert.Contains("group-commit-linger must be from 0s (off) to 10ms", e.Message);
    }

    [Theory]
    [InlineData("0s")]
    [InlineData("10ms")]
    public void A_group_commit_linger_from_0_to_10ms_is_taken(string linger) =>
        Assert.Equal(TimeSpan.FromMilliseconds(linger == "0s" ? 0 : 10),
            EngineSettings.Create(ConfigurationFactory.ParseString($"group-commit-linger = {linger}")).GroupCommitLinger);
}
