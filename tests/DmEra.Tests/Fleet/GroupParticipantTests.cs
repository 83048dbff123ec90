using Akka.Actor;
using DmEra.Daemon;
using DmEra.Fleet;
using DmEra.Storage;
using DmEra.Tests.Tools;
using Microsoft.Extensions.Logging.Abstractions;
using static DmEra.Tests.Daemon.DaemonEndToEndTests;

namespace DmEra.Tests.Fleet;

/// <summary>
/// A member's side of a fleet group checkpoint, on real volumes, with the test standing in for the
/// coordinator: the hold's lease, refusal of a late checkpoint, and repeats answered from the record.
/// </summary>
public sealed class GroupParticipantTests : IAsyncLifetime
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Ask = TimeSpan.FromSeconds(30);
    private readonly TempDir _dir = new();
    private readonly ActorSystem _system = ActorSystem.Create("participant-test", Engine.EngineSettings.DefaultConfig);
    private VolumeHost _host = null!;
    private IActorRef _participant = null!;

    public async Task InitializeAsync()
    {
        _host = await VolumeHost.StartAsync(_system, [VolumeSpec.Parse(Volume(_dir, "v1")), VolumeSpec.Parse(Volume(_dir, "v2"))],
            new InlineWriteSettings(), NullLogger.Instance, CancellationToken.None);
        _participant = _system.ActorOf(GroupParticipant.Props(new FleetVolumes(_host, _ => { }, NullLogger.Instance), "n", Lease, NullLogger.Instance));
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _system.Terminate();
        _dir.Dispose();
    }

    private Engine.IEraVolume V(string name) => _host.Served.Single(v => v.Spec.Name == name).Volume;

    /// <summary>Whether a write to block 0 of <paramref name="name"/> completes within <paramref name="within"/>.</summary>
    private async Task<bool> WriteGoesThrough(string name, TimeSpan within)
    {
        var write = V(name).WriteAsync(0, new byte[4096]).AsTask();
        return await Task.WhenAny(write, Task.Delay(within)) == write;
    }

    [Fact]
    public async Task A_hold_not_followed_by_its_checkpoint_ends_with_the_lease_and_the_late_checkpoint_is_refused()
    {
        var era = V("v1").CurrentEra;
        var held = await _participant.Ask<GroupHeld>(new HoldGroup("g1", ["v1", "v2"]), Ask);
        Assert.Null(held.Error);
        Assert.Null((await _participant.Ask<GroupHeld>(new HoldGroup("g1", ["v1", "v2"]), Ask)).Error);   // a repeat re-acks
        Assert.False(await WriteGoesThrough("v1", TimeSpan.FromMilliseconds(200)));   // held
        Assert.True(await WriteGoesThrough("v2", TimeSpan.FromSeconds(20)));          // released by the lease, nobody else
        var late = await _participant.Ask<GroupCheckpointed>(new CheckpointGroup("g1"), Ask);
        Assert.Contains("lease", late.Error);
        Assert.Empty(late.Volumes);
        Assert.Equal(era, V("v1").CurrentEra);
        Assert.NotNull((await _participant.Ask<GroupHeld>(new HoldGroup("g1", ["v1"]), Ask)).Error);   // a late duplicate Hold holds nothing
        Assert.True(await WriteGoesThrough("v1", TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task A_checkpoint_inside_the_lease_advances_every_era_once_releases_and_its_repeat_changes_nothing()
    {
        var eras = new[] { V("v1").CurrentEra, V("v2").CurrentEra };
        Assert.Null((await _participant.Ask<GroupHeld>(new HoldGroup("g2", ["v2", "v1"]), Ask)).Error);
        var done = await _participant.Ask<GroupCheckpointed>(new CheckpointGroup("g2"), Ask);
        Assert.Null(done.Error);
        Assert.Equal([("v1", (uint?)(eras[0] + 1)), ("v2", eras[1] + 1)], done.Volumes.Select(v => (v.Volume, v.Era)).OrderBy(v => v.Volume));
        Assert.True(await WriteGoesThrough("v1", TimeSpan.FromSeconds(1)));   // released at once, not at the lease
        var again = await _participant.Ask<GroupCheckpointed>(new CheckpointGroup("g2"), Ask);
        Assert.Equal(done.Volumes, again.Volumes);
        Assert.Equal(eras[0] + 1, V("v1").CurrentEra);
        // Another group may hold now; a Release ends it without a checkpoint.
        Assert.Null((await _participant.Ask<GroupHeld>(new HoldGroup("g3", ["v1"]), Ask)).Error);
        Assert.NotNull((await _participant.Ask<GroupHeld>(new HoldGroup("g4", ["v2"]), Ask)).Error);   // one group at a time
        await _participant.Ask<GroupReleased>(new ReleaseGroup("g3"), Ask);
        Assert.True(await WriteGoesThrough("v1", TimeSpan.FromSeconds(1)));
        Assert.NotNull((await _participant.Ask<GroupCheckpointed>(new CheckpointGroup("g3"), Ask)).Error);
        Assert.Equal(eras[0] + 1, V("v1").CurrentEra);
    }
}
