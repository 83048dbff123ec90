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

    [Fact]
    public async Task A_take_inside_the_lease_gives_each_volume_its_view_and_the_groups_release_drops_them_again()
    {
        Assert.Null((await _participant.Ask<GroupHeld>(new HoldGroup("t1", ["v1", "v2"]), Ask)).Error);
        var eras = new[] { V("v1").CurrentEra, V("v2").CurrentEra };
        var taken = await _participant.Ask<GroupCheckpointed>(new TakeGroupViews("t1", null), Ask);
        Assert.Null(taken.Error);
        Assert.Equal([("v1", (uint?)eras[0]), ("v2", eras[1])], taken.Volumes.Select(v => (v.Volume, v.Era)).OrderBy(v => v.Volume));
        Assert.NotNull(V("v1").BackupView);
        Assert.NotNull(V("v2").BackupView);
        Assert.True(await WriteGoesThrough("v1", TimeSpan.FromSeconds(1)));   // released at once
        Assert.Equal(taken.Volumes, (await _participant.Ask<GroupCheckpointed>(new TakeGroupViews("t1", null), Ask)).Volumes);   // a repeat takes nothing new

        // The coordinator abandons the group (another member failed): the views this one took are dropped.
        var released = await _participant.Ask<GroupReleased>(new ReleaseGroup("t1"), Ask);
        Assert.Equal(["v1", "v2"], released.Dropped!.Order());
        Assert.Null(V("v1").BackupView);
        Assert.Null(V("v2").BackupView);
        Assert.Equal(["v1", "v2"], (await _participant.Ask<GroupReleased>(new ReleaseGroup("t1"), Ask)).Dropped!.Order());
    }

    [Fact]
    public async Task A_take_after_the_lease_is_refused_and_a_refusing_volume_leaves_no_view_on_the_others()
    {
        Assert.Null((await _participant.Ask<GroupHeld>(new HoldGroup("t2", ["v1", "v2"]), Ask)).Error);
        Assert.True(await WriteGoesThrough("v1", TimeSpan.FromSeconds(20)));   // the lease ran out
        var late = await _participant.Ask<GroupCheckpointed>(new TakeGroupViews("t2", null), Ask);
        Assert.Contains("lease", late.Error);
        Assert.Null(V("v1").BackupView);
        Assert.Null(V("v2").BackupView);

        // v2 already has a view: the member takes none (v1's is dropped again), and v2's own stays.
        await _host.TakeBackupAsync(["v2"], ["take_backup_snap"], CancellationToken.None);
        var own = V("v2").BackupView;
        Assert.Null((await _participant.Ask<GroupHeld>(new HoldGroup("t3", ["v1", "v2"]), Ask)).Error);
        var refused = await _participant.Ask<GroupCheckpointed>(new TakeGroupViews("t3", null), Ask);
        Assert.Contains("backup view already exists", refused.Error);
        Assert.All(refused.Volumes, v => Assert.Null(v.Era));
        Assert.Null(V("v1").BackupView);
        Assert.Same(own, V("v2").BackupView);
        Assert.Empty((await _participant.Ask<GroupReleased>(new ReleaseGroup("t3"), Ask)).Dropped!);
        Assert.Same(own, V("v2").BackupView);
        Assert.True(await WriteGoesThrough("v1", TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task A_view_taken_for_a_group_is_kept_once_confirmed_and_dropped_at_the_lease_when_no_confirmation_comes()
    {
        // Confirmed inside the lease: the view outlives it, and a repeated Confirm gets the same answer.
        Assert.Null((await _participant.Ask<GroupHeld>(new HoldGroup("c1", ["v1"]), Ask)).Error);
        Assert.Null((await _participant.Ask<GroupCheckpointed>(new TakeGroupViews("c1", null), Ask)).Error);
        Assert.Null((await _participant.Ask<GroupConfirmed>(new ConfirmGroup("c1"), Ask)).Error);
        var kept = V("v1").BackupView;
        Assert.NotNull(kept);

        // Never confirmed (the coordinator died after the take): the member drops the view by itself.
        Assert.Null((await _participant.Ask<GroupHeld>(new HoldGroup("c2", ["v2"]), Ask)).Error);
        Assert.Null((await _participant.Ask<GroupCheckpointed>(new TakeGroupViews("c2", null), Ask)).Error);
        Assert.NotNull(V("v2").BackupView);
        var deadline = DateTime.UtcNow + Lease + TimeSpan.FromSeconds(20);
        while (V("v2").BackupView is not null && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.Null(V("v2").BackupView);
        Assert.Contains("dropped", (await _participant.Ask<GroupConfirmed>(new ConfirmGroup("c2"), Ask)).Error);   // too late
        Assert.Empty((await _participant.Ask<GroupReleased>(new ReleaseGroup("c2"), Ask)).Dropped!.Except(["v2"]));

        Assert.Same(kept, V("v1").BackupView);   // past its lease too
        Assert.Null((await _participant.Ask<GroupConfirmed>(new ConfirmGroup("c1"), Ask)).Error);
        Assert.Contains("no view", (await _participant.Ask<GroupConfirmed>(new ConfirmGroup("c9"), Ask)).Error);
    }
}
