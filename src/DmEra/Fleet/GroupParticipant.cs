using Akka.Actor;
using Microsoft.Extensions.Logging;
using DmEra.Engine;

namespace DmEra.Fleet;

/// <summary>
/// This member's side of fleet group checkpoints: owns the write holds it takes for a group, and times each
/// hold on this node's own clock from the moment the Hold arrived. The hold ends when this member has
/// checkpointed its volumes, when the coordinator says Release, or when the lease runs out, whichever comes
/// first, so a coordinator or a node that vanishes mid-protocol never leaves a volume held. A Checkpoint that
/// arrives after the lease is refused: writes accepted after the release would sit on the wrong side of the
/// boundary. Every message carries the group's id; repeats are answered from the record of that group.
/// </summary>
public sealed class GroupParticipant : ReceiveActor, IWithTimers
{
    public const string Name = "group-participant";
    private const int Remembered = 64;

    private readonly FleetVolumes _volumes;
    private readonly string _node;
    private readonly TimeSpan _lease;
    private readonly ILogger _log;
    /// <summary>Finished groups: the reply a repeated Checkpoint gets, or why a late one is refused.</summary>
    private readonly Dictionary<string, GroupCheckpointed> _finished = new();
    private readonly Queue<string> _finishedOrder = new();
    private Hold? _hold;

    public ITimerScheduler Timers { get; set; } = null!;

    public GroupParticipant(FleetVolumes volumes, string node, TimeSpan lease, ILogger log)
    {
        _log = log;
        _volumes = volumes;
        _node = node;
        _lease = lease;
        Receive<HoldGroup>(OnHold);
        Receive<HoldsTaken>(OnHoldsTaken);
        Receive<CheckpointGroup>(OnCheckpoint);
        Receive<CheckpointsDone>(OnCheckpointsDone);
        Receive<ReleaseGroup>(OnRelease);
        Receive<LeaseExpired>(e => { if (_hold?.Gid == e.Gid) Expire(); });
    }

    public static Props Props(FleetVolumes volumes, string node, TimeSpan lease, ILogger log) =>
        Akka.Actor.Props.Create(() => new GroupParticipant(volumes, node, lease, log));

    /// <summary>
    /// One group's hold. The writes it took are released exactly once, by whichever comes last of the
    /// hold task finishing and the actor abandoning the hold (the lock makes the two meet): a hold that
    /// completes after its actor stopped, or after its lease ran out, is still released.
    /// </summary>
    private sealed class Hold(string gid, IReadOnlyList<(string Name, IEraVolume Volume)> volumes)
    {
        private readonly object _lock = new();
        private List<IEraVolume> _taken = new();
        private bool _abandoned;

        public string Gid { get; } = gid;
        public IReadOnlyList<(string Name, IEraVolume Volume)> Volumes { get; } = volumes;
        public CancellationTokenSource Cancel { get; } = new();
        public List<IActorRef> HoldWaiters { get; } = new();
        public List<IActorRef> CheckpointWaiters { get; } = new();
        public bool Held;
        public bool Checkpointing;

        /// <summary>Holds each volume in name order; on failure or cancellation releases what it took.</summary>
        public async Task<HoldsTaken> TakeAsync()
        {
            var taken = new List<IEraVolume>();
            try
            {
                foreach (var (_, v) in Volumes)
                {
                    var hold = v.HoldWritesAsync(Cancel.Token);
                    try
                    {
                        await hold.ConfigureAwait(false);
                    }
                    catch (InvalidOperationException)
                    {
                        throw;   // held by someone else: not ours to release
                    }
                    catch
                    {
                        taken.Add(v);   // a cancelled drain has closed the gate: reopen it below
                        throw;
                    }
                    taken.Add(v);
                }
                lock (_lock)
                {
                    if (!_abandoned)
                    {
                        _taken = taken;
                        return new HoldsTaken(Gid, null);
                    }
                }
                throw new OperationCanceledException();
            }
            catch (Exception e)
            {
                foreach (var v in taken) v.ReleaseWrites();
                return new HoldsTaken(Gid, e is OperationCanceledException ? "hold lease ran out before the writes in flight finished" : e.Message);
            }
        }

        public void Abandon()
        {
            List<IEraVolume> taken;
            lock (_lock)
            {
                _abandoned = true;
                taken = _taken;
                _taken = new();
            }
            Cancel.Cancel();
            foreach (var v in taken) v.ReleaseWrites();
        }
    }

    private sealed record HoldsTaken(string Gid, string? Error);
    private sealed record CheckpointsDone(string Gid, IReadOnlyList<VolumeEra> Volumes);
    private sealed record LeaseExpired(string Gid);

    private void OnHold(HoldGroup m)
    {
        if (_finished.TryGetValue(m.Gid, out var done))
        {
            Sender.Tell(new GroupHeld(m.Gid, _node, done.Error ?? "group already checkpointed here"));
            return;
        }
        if (_hold is { } current)
        {
            if (current.Gid != m.Gid)
                Sender.Tell(new GroupHeld(m.Gid, _node, $"busy: group {current.Gid} holds writes here"));
            else if (current.Held) Sender.Tell(new GroupHeld(m.Gid, _node, null));
            else current.HoldWaiters.Add(Sender);
            return;
        }
        var volumes = new List<(string, IEraVolume)>();
        foreach (var name in m.Volumes.Order(StringComparer.Ordinal))
        {
            if (_volumes.TryGetLocal(name) is not { } v)
            {
                Sender.Tell(new GroupHeld(m.Gid, _node, $"no volume '{name}' here"));
                return;
            }
            volumes.Add((name, v));
        }
        // One group operation at a time per daemon, shared with the daemon's own --group and take_backup_snap.
        if (!_volumes.TryEnterGroup())
        {
            Sender.Tell(new GroupHeld(m.Gid, _node, "busy: another group operation holds writes here"));
            return;
        }
        var hold = _hold = new Hold(m.Gid, volumes);
        hold.HoldWaiters.Add(Sender);
        Timers.StartSingleTimer("lease", new LeaseExpired(m.Gid), _lease);
        hold.TakeAsync().PipeTo(Self);
    }

    private void OnHoldsTaken(HoldsTaken m)
    {
        if (_hold is not { } hold || hold.Gid != m.Gid) return;   // abandoned meanwhile: its writes were released
        if (m.Error is not null)
        {
            foreach (var w in hold.HoldWaiters) w.Tell(new GroupHeld(m.Gid, _node, m.Error));
            Finish(new GroupCheckpointed(m.Gid, _node, [], m.Error));
            return;
        }
        hold.Held = true;
        _log.LogInformation("fleet group {Gid}: holding first-writes on {Volumes} until its checkpoint (lease {Lease})", m.Gid,
            string.Join(", ", hold.Volumes.Select(v => v.Name)), _lease);
        foreach (var w in hold.HoldWaiters) w.Tell(new GroupHeld(m.Gid, _node, null));
        hold.HoldWaiters.Clear();
    }

    private void OnCheckpoint(CheckpointGroup m)
    {
        if (_finished.TryGetValue(m.Gid, out var done))
        {
            Sender.Tell(done);
            return;
        }
        if (_hold is not { } hold || hold.Gid != m.Gid || !hold.Held)
        {
            Sender.Tell(new GroupCheckpointed(m.Gid, _node, [], _hold?.Gid == m.Gid ? "writes not held yet" : "no hold for this group here"));
            return;
        }
        hold.CheckpointWaiters.Add(Sender);
        if (hold.Checkpointing) return;
        hold.Checkpointing = true;
        CheckpointAllAsync(hold.Gid, hold.Volumes).PipeTo(Self);
    }

    private static async Task<CheckpointsDone> CheckpointAllAsync(string gid, IReadOnlyList<(string Name, IEraVolume Volume)> volumes)
    {
        var eras = await Task.WhenAll(volumes.Select(async v =>
        {
            try
            {
                return new VolumeEra(v.Name, await v.Volume.CheckpointAsync().ConfigureAwait(false), null);
            }
            catch (Exception e)
            {
                return new VolumeEra(v.Name, null, e.Message);
            }
        })).ConfigureAwait(false);
        return new CheckpointsDone(gid, eras);
    }

    private void OnCheckpointsDone(CheckpointsDone m)
    {
        if (_hold is not { } hold || hold.Gid != m.Gid) return;
        // Releasing now, before the others answer, keeps the cut: every volume of the group was held before
        // any was checkpointed, so a write that lands in the new era here cannot precede an old-era write elsewhere.
        var reply = new GroupCheckpointed(m.Gid, _node, m.Volumes,
            m.Volumes.Any(v => v.Error is not null) ? "a checkpoint failed" : null);
        _log.LogInformation("fleet group {Gid}: {Eras}", m.Gid, string.Join(", ", m.Volumes.Select(v => v.Era is { } e ? $"{v.Volume} era {e}" : $"{v.Volume} failed: {v.Error}")));
        foreach (var w in hold.CheckpointWaiters) w.Tell(reply);
        Finish(reply);
    }

    private void OnRelease(ReleaseGroup m)
    {
        if (_hold is { } hold && hold.Gid == m.Gid && !hold.Checkpointing)
        {
            foreach (var w in hold.HoldWaiters) w.Tell(new GroupHeld(m.Gid, _node, "released by the coordinator"));
            Finish(new GroupCheckpointed(m.Gid, _node, [], "the coordinator abandoned the group before its checkpoint"));
        }
        else if (_hold?.Gid != m.Gid && !_finished.ContainsKey(m.Gid))
            Remember(m.Gid, new GroupCheckpointed(m.Gid, _node, [], "the coordinator abandoned the group"));   // a late Hold is refused
        // A release during the checkpoint changes nothing: the hold ends when the checkpoint does.
        Sender.Tell(new GroupReleased(m.Gid, _node));
    }

    private void Expire()
    {
        var hold = _hold!;
        if (hold.Checkpointing)
        {
            // The checkpoint already began inside the lease; the hold ends with it (one metadata commit away).
            return;
        }
        _log.LogWarning("fleet group {Gid}: the hold lease ({Lease}) ran out before the checkpoint arrived (coordinator or a member gone?): writes released, no new era",
            hold.Gid, _lease);
        foreach (var w in hold.HoldWaiters) w.Tell(new GroupHeld(hold.Gid, _node, "hold lease ran out"));
        Finish(new GroupCheckpointed(hold.Gid, _node, [], $"refused: the hold lease ({_lease.TotalSeconds:0.#}s) ran out before the checkpoint arrived; no new era"));
    }

    /// <summary>Ends the current hold: writes released, the group lock freed, the outcome remembered for repeats.</summary>
    private void Finish(GroupCheckpointed outcome)
    {
        var hold = _hold!;
        _hold = null;
        Timers.Cancel("lease");
        hold.Abandon();
        _volumes.ExitGroup();
        Remember(hold.Gid, outcome);
    }

    private void Remember(string gid, GroupCheckpointed outcome)
    {
        _finished[gid] = outcome;
        _finishedOrder.Enqueue(gid);
        while (_finishedOrder.Count > Remembered) _finished.Remove(_finishedOrder.Dequeue());
    }

    protected override void PostStop()
    {
        // The fleet system stopping (downed, daemon stopping) never leaves writes held.
        if (_hold is not null) Finish(new GroupCheckpointed(_hold.Gid, _node, [], "member left the fleet"));
        base.PostStop();
    }
}
