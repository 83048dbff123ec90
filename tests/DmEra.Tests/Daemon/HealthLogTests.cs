using DmEra.Tests.Tools;
using static DmEra.Tests.Daemon.DaemonEndToEndTests;

namespace DmEra.Tests.Daemon;

public sealed class HealthLogTests
{
    [Fact]
    public async Task Metadata_filling_up_is_warned_about_in_the_log()
    {
        using var dir = new TempDir();
        Volume(dir, "full");
        var hocon = dir.File("warn.hocon");
        File.WriteAllText(hocon, $$"""
            dmera.daemon {
              volumes = [ { name = full, origin = "{{dir.File("full.origin")}}", metadata = "{{dir.File("full.meta")}}", block-size = 128 } ]
              listen = []
              health-interval = 200ms
              metadata-warn-fraction = 0.0001
            }
            """);
        await using var d = await DaemonProcess.StartAsync(dir, "--config", hocon);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!d.Log.Contains("volume full: metadata") && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.Contains("volume full: metadata", d.Log);
    }
}
