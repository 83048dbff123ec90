using Akka.Actor;
using Akka.TestKit;
using DmEra.Engine.Actors;
using DmEra.Engine.Backup;
using DmEra.Engine.Tracking;
using DmEra.Metadata.Era;

namespace DmEra.Engine.Tests.Actors;

/// <summary>The snapshot actor alone, probes standing for the metadata writer and the era manager.</summary>
public sealed class SnapshotActorSpecs(ITestOutputHelper output) : EngineSpec(output)
{
    private const int B = 4096;
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(200);
    private readonly string _dir = Directory.CreateTempSubdirectory("dmera-snapactor-").FullName;
    private readonly BackupViewSlot _views = new();

    private (TestProbe Writer, TestProbe EraManager, IActorRef Snapshots) StartWithProbes(long heldAtStart = 0)
    {
        var writer = CreateTestProbe();
        var eraManager = CreateTestProbe();
        var snapshots = Sys.ActorOf(MetadataSnapshot.Props(writer.Ref, eraManager.Ref, _views));
        snapshots.Tell(new MetadataSnapshot.HeldAtStart(heldAtStart));
        return (writer, eraManager, snapshots);
    }

    [Fact]
    public void A_take_asks_the_writer_answers_the_held_root_and_a_second_take_is_refused_without_asking_the_writer()
    {
        var (writer, eraManager, snapshots) = StartWithProbes();
        var requester = CreateTestProbe();

        snapshots.Tell(new MetadataSnapshot.Take(requester.Ref, 1));
        var take = writer.ExpectMsg<MetadataWriter.TakeSnapshot>(Limit);
        take.ReplyTo.Tell(new MetadataWriter.SnapshotTaken(take.RequestId, 42, 3));
        Assert.Equal(new MetadataSnapshot.Taken(1, 42), requester.ExpectMsg<MetadataSnapshot.Taken>(Limit));
        eraManager.ExpectMsg<EraManager.KickDigest>(Limit);   // the snapshot's rollover archived a writeset

        snapshots.Tell(new MetadataSnapshot.Take(requester.Ref, 2));
        var refused = requester.ExpectMsg<Failed>(Limit);
        Assert.Equal(2, refused.RequestId);
        Assert.Equal("metadata snapshot already exists", Assert.IsType<EraMessageException>(refused.Cause).Message);
        writer.ExpectNoMsg(Quiet);
    }

    [Fact]
    public void A_root_left_held_by_the_last_run_refuses_a_take_and_is_dropped_through_the_writer()
    {
        var (writer, _, snapshots) = StartWithProbes(heldAtStart: 17);
        var requester = CreateTestProbe();

        snapshots.Tell(new MetadataSnapshot.Take(requester.Ref, 1));
        Assert.IsType<EraMessageException>(requester.ExpectMsg<Failed>(Limit).Cause);
        snapshots.Tell(new MetadataSnapshot.Drop(requester.Ref, 2));
        var drop = writer.ExpectMsg<MetadataWriter.DropSnapshot>(Limit);
        drop.ReplyTo.Tell(new MetadataWriter.SnapshotDropped(drop.RequestId));
        Assert.Equal(new MetadataSnapshot.Dropped(2), requester.ExpectMsg<MetadataSnapshot.Dropped>(Limit));

        snapshots.Tell(new MetadataSnapshot.Drop(requester.Ref, 3));
        Assert.Equal("no snap to drop", requester.ExpectMsg<Failed>(Limit).Cause.Message);
        writer.ExpectNoMsg(Quiet);
    }

    [Fact]
    public void A_failure_of_the_writer_reaches_the_requester_as_the_typed_failure()
    {
        var (writer, eraManager, snapshots) = StartWithProbes();
        var requester = CreateTestProbe();

        snapshots.Tell(new MetadataSnapshot.Take(requester.Ref, 5));
        var take = writer.ExpectMsg<MetadataWriter.TakeSnapshot>(Limit);
        var cause = new VolumeFailedException("metadata failed");
        take.ReplyTo.Tell(new Failed(take.RequestId, cause));

        var failed = requester.ExpectMsg<Failed>(Limit);
        Assert.Equal(5, failed.RequestId);
        Assert.Same(cause, failed.Cause);
        eraManager.ExpectNoMsg(Quiet);
    }

    [Fact]
    public void An_era_query_of_the_held_root_goes_to_the_writer_with_the_askers_address_and_one_of_another_root_is_refused()
    {
        var (writer, _, snapshots) = StartWithProbes(heldAtStart: 17);
        var asker = CreateTestProbe();

        snapshots.Tell(new MetadataSnapshot.QueryHeldEras(asker.Ref, 8, 17, 0, 4));
        var query = writer.ExpectMsg<MetadataWriter.QueryHeldEras>(Limit);
        Assert.Equal(new MetadataWriter.QueryHeldEras(asker.Ref, 8, 17, 0, 4), query);

        snapshots.Tell(new MetadataSnapshot.QueryHeldEras(asker.Ref, 9, 18, 0, 4));
        var refused = asker.ExpectMsg<Failed>(Limit);
        Assert.Equal(9, refused.RequestId);
        Assert.Contains("no longer held", refused.Cause.Message);
        writer.ExpectNoMsg(Quiet);
    }

    [Fact]
    public void A_backup_view_is_published_once_its_snapshot_is_taken_and_a_second_one_is_refused()
    {
        var (writer, _, snapshots) = StartWithProbes();
        var requester = CreateTestProbe();
        var view = NewView("one");

        snapshots.Tell(new BackupSnapshot.Take(requester.Ref, 1, view));
        var take = writer.ExpectMsg<MetadataWriter.TakeSnapshot>(Limit);
        Assert.Null(_views.Current);
        take.ReplyTo.Tell(new MetadataWriter.SnapshotTaken(take.RequestId, 42, 6));
        Assert.Same(view, requester.ExpectMsg<BackupSnapshot.ViewTaken>(Limit).View);
        Assert.Same(view, _views.Current);
        Assert.Equal((42L, 5u), (view.HeldRoot, view.Era));

        var second = NewView("two");
        snapshots.Tell(new BackupSnapshot.Take(requester.Ref, 2, second));
        Assert.Equal("backup view already exists", requester.ExpectMsg<Failed>(Limit).Cause.Message);
        Assert.False(File.Exists(second.StorePath));   // a refused view's file is deleted
        snapshots.Tell(new MetadataSnapshot.Drop(requester.Ref, 3));
        Assert.IsType<EraMessageException>(requester.ExpectMsg<Failed>(Limit).Cause);   // the root is the view's
        writer.ExpectNoMsg(Quiet);

        snapshots.Tell(new BackupSnapshot.Drop(requester.Ref, 4));
        var drop = writer.ExpectMsg<MetadataWriter.DropSnapshot>(Limit);
        Assert.Null(_views.Current);   // unpublished before the writer is asked
        drop.ReplyTo.Tell(new MetadataWriter.SnapshotDropped(drop.RequestId));
        Assert.Equal(new BackupSnapshot.ViewDropped(4), requester.ExpectMsg<BackupSnapshot.ViewDropped>(Limit));
    }

    [Fact]
    public void A_stopped_snapshot_actor_fails_what_the_writer_still_has_and_sends_the_writer_nothing_more()
    {
        var (writer, _, snapshots) = StartWithProbes();
        var requester = CreateTestProbe();
        snapshots.Tell(new MetadataSnapshot.Take(requester.Ref, 1));
        writer.ExpectMsg<MetadataWriter.TakeSnapshot>(Limit);

        Sys.Stop(snapshots);

        var failed = requester.ExpectMsg<Failed>(Limit);
        Assert.Equal(1, failed.RequestId);
        Assert.IsType<VolumeStoppingException>(failed.Cause);
        writer.ExpectNoMsg(Quiet);
    }

    private BackupView NewView(string name) =>
        new(new BlockGeometry(8, 16 * B), (_, _) => ValueTask.CompletedTask, SavedCopyFile.Create(Path.Combine(_dir, name)), 16 * B, null, null);

    protected override void Dispose(bool disposing)
    {
        _views.Current?.Dispose();
        base.Dispose(disposing);
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
