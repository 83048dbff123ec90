using Akka.Actor;
using Microsoft.Extensions.Logging;
using DmEra.Daemon;
using DmEra.Engine;
using DmEra.Engine.Backup;

namespace DmEra.Fleet;

/// <summary>
/// This member's side of fleet group checkpoints and takes: owns the write holds it takes for a group, and
/// times each hold on this node's own clock from the moment the Hold arrived. The hold ends when this member
/// has checkpointed its volumes (or taken their views), when the coordinator says Release, or when the lease
/// runs out, whichever comes first, so a coordinator or a node that vanishes mid-protocol never leaves a volume
/// held. A Checkpoint (or Take) that arrives after the lease is refused: writes accepted after the release would
/// sit on the wrong side of the boundary. The views a group took are kept only once the coordinator confirms
/// them (Confirm, sent when every member took its views) within the lease, timed from the take on this node's
/// clock; unconfirmed they are dropped by this member, and a Release drops them too, so neither a failed group
/// take nor a coordinator that vanished mid-take leaves a view held. Every message carries the group's id;
/// repeats are answered from the record of that group.
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
    /// <summary>The views each finished group took here, until the group is released or unconfirmed at the lease (then they are dropped) or forgotten.</summary>
    private readonly Dictionary<string, IReadOnlyList<(ServedVolume Served, BackupView View)>> _views = new();
    /// <summary>Groups whose views the coordinator confirmed: kept (the user drops them), unless the group is released.</summary>
    private readonly HashSet<string> _confirmed = new();
    /// <summary>Drops of a group's views (released, or unconfirmed at the lease), begun once: a repeated Release gets the same answer.</summary>
    private readonly Dictionary<string, Task<IReadOnlyList<string>>> _drops = new();
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
        Receive<CheckpointGroup>(m => OnAct(m.Gid, h => CheckpointAllAsync(h.Gid, h.Volumes)));
        Receive<TakeGroupViews>(m => OnAct(m.Gid, h => TakeViewsAsync(h.Gid, h.Volumes, m.Since)));
        Receive<ActionDone>(OnActionDone);
        Receive<ConfirmGroup>(OnConfirm);
        Receive<ReleaseGroup>(OnRelease);
        Receive<LeaseExpired>(e => { if (_hold?.Gid == e.Gid) Expire(); });
        Receive<ConfirmExpired>(OnConfirmExpired);
    }

    public static Props Props(FleetVolumes volumes, string node, TimeSpan lease, ILogger log) =>
        Akka.Actor.Props.Create(() => new GroupParticipant(volumes, node, lease, log));

    /// <summary>
    /// One group's hold. The writes it took are released exactly once, by whichever comes last of the
    /// hold task finishing and the actor abandoning the hold (the lock makes the two meet): a hold that
    /// completes after its actor stopped, or after its lease ran out, is still released.
    /// </summary>
    private sealed class Hold(string gid, IReadOnlyList<ServedVolume> volumes)
    {
        private readonly object _lock = new();
        private List<IEraVolume> _taken = new();
        private bool _abandoned;

        public string Gid { get; } = gid;
        public IReadOnlyList<ServedVolume> Volumes { get; } = volumes;
        public CancellationTokenSource Cancel { get; } = new();
        public List<IActorRef> HoldWaiters { get; } = new();
        public List<IActorRef> ActionWaiters { get; } = new();
        /// <summary>Releases that arrived while the checkpoint or take ran: answered (and the views dropped) when it ends.</summary>
        public List<IActorRef> ReleaseWaiters { get; } = new();
        public bool Held;
        public bool Acting;

        /// <summary>
        /// Holds every volume at once; on failure or cancellation releases what it took. At once, not one after
        /// another: the group lock lets one group operation hold writes per daemon, so two groups cannot each hold
        /// part of the other's volumes, and a member's holds cost one wait for its slowest drain instead of a sum.
        /// </summary>
        public async Task<HoldsTaken> TakeAsync()
        {
            var holds = Volumes.Select(s => (s.Volume, Task: s.Volume.HoldWritesAsync(Cancel.Token))).ToList();
            try
            {
                await Task.WhenAll(holds.Select(h => h.Task)).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // Held by someone else (InvalidOperationException) is not ours to release; a cancelled drain has
                // closed the gate, and a completed hold holds: both are reopened.
                foreach (var (v, t) in holds)
                    if (!(t.IsFaulted && t.Exception!.InnerException is InvalidOperationException)) v.ReleaseWrites();
                return new HoldsTaken(Gid, e is OperationCanceledException ? LeaseRanOut : e.Message);
            }
            lock (_lock)
            {
                if (!_abandoned)
                {
                    _taken = holds.Select(h => h.Volume).ToList();
                    return new HoldsTaken(Gid, null);
                }
            }
            foreach (var (v, _) in holds) v.ReleaseWrites();
            return new HoldsTaken(Gid, LeaseRanOut);
        }

        private const string LeaseRanOut = "hold lease ran out before the writes in flight finished";

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
    /// <summary>A checkpoint or take ended: each volume's era (or error), and the views it took.</summary>
    private sealed record ActionDone(string Gid, IReadOnlyList<VolumeEra> Volumes, IReadOnlyList<(ServedVolume Served, BackupView View)> Views, string? Error);
    private sealed record LeaseExpired(string Gid);
    private sealed record ConfirmExpired(string Gid);

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
        var volumes = new List<ServedVolume>();
        foreach (var name in m.Volumes.Order(StringComparer.Ordinal))
        {
            if (_volumes.TryGetServed(name) is not { } v)
            {
                Sender.Tell(new GroupHeld(m.Gid, _node, $"no volume '{name}' here"));
                return;
            }
            volumes.Add(v);
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
            string.Join(", ", hold.Volumes.Select(v => v.Spec.Name)), _lease);
        foreach (var w in hold.HoldWaiters) w.Tell(new GroupHeld(m.Gid, _node, null));
        hold.HoldWaiters.Clear();
    }

    /// <summary>The second phase, a checkpoint or a take, inside the hold; a repeat joins it or gets its recorded answer.</summary>
    private void OnAct(string gid, Func<Hold, Task<ActionDone>> action)
    {
        if (_finished.TryGetValue(gid, out var done))
        {
            Sender.Tell(done);
            return;
        }
        if (_hold is not { } hold || hold.Gid != gid || !hold.Held)
        {
            Sender.Tell(new GroupCheckpointed(gid, _node, [], _hold?.Gid == gid ? "writes not held yet" : "no hold for this group here"));
            return;
        }
        hold.ActionWaiters.Add(Sender);
        if (hold.Acting) return;
        hold.Acting = true;
        action(hold).PipeTo(Self);
    }

    private static async Task<ActionDone> CheckpointAllAsync(string gid, IReadOnlyList<ServedVolume> volumes)
    {
        var eras = await Task.WhenAll(volumes.Select(async v =>
        {
            try
            {
                return new VolumeEra(v.Spec.Name, await v.Volume.CheckpointAsync().ConfigureAwait(false), null);
            }
            catch (Exception e)
            {
                return new VolumeEra(v.Spec.Name, null, e.Message);
            }
        })).ConfigureAwait(false);
        return new ActionDone(gid, eras, [], eras.Any(v => v.Error is not null) ? "a checkpoint failed" : null);
    }

    /// <summary>Every held volume's view at this instant, all or none (the daemon's own group take, second half).</summary>
    private async Task<ActionDone> TakeViewsAsync(string gid, IReadOnlyList<ServedVolume> volumes, uint? since)
    {
        try
        {
            var taken = await _volumes.Host.TakeViewsHeldAsync(volumes, since, CancellationToken.None).ConfigureAwait(false);
            return new ActionDone(gid, taken.Select(t => new VolumeEra(t.Served.Spec.Name, t.View.Era, null)).ToList(), taken, null);
        }
        catch (Exception e)
        {
            var why = $"no view kept here: {e.Message}";
            return new ActionDone(gid, volumes.Select(v => new VolumeEra(v.Spec.Name, null, why)).ToList(), [], why);
        }
    }

    private void OnActionDone(ActionDone m)
    {
        if (_hold is not { } hold || hold.Gid != m.Gid) return;
        // Releasing now, before the others answer, keeps the cut: every volume of the group was held before
        // any was checkpointed, so a write that lands in the new era here cannot precede an old-era write elsewhere.
        var reply = new GroupCheckpointed(m.Gid, _node, m.Volumes, m.Error);
        _log.LogInformation("fleet group {Gid}: {Eras}", m.Gid, string.Join(", ", m.Volumes.Select(v => v.Era is { } e ? $"{v.Volume} era {e}" : $"{v.Volume} failed: {v.Error}")));
        foreach (var w in hold.ActionWaiters) w.Tell(reply);
        if (m.Views.Count > 0)
        {
            _views[m.Gid] = m.Views;
            Timers.StartSingleTimer(ConfirmTimer(m.Gid), new ConfirmExpired(m.Gid), _lease);
        }
        Finish(reply);
        foreach (var w in hold.ReleaseWaiters) AnswerRelease(m.Gid, w);
    }

    private static string ConfirmTimer(string gid) => $"confirm {gid}";

    /// <summary>Every member took its views: keep this group's (a repeat gets the same answer; too late, the refusal).</summary>
    private void OnConfirm(ConfirmGroup m)
    {
        if (_views.ContainsKey(m.Gid) && _confirmed.Add(m.Gid))
        {
            Timers.Cancel(ConfirmTimer(m.Gid));
            _log.LogInformation("fleet group {Gid}: views confirmed by the coordinator, kept", m.Gid);
        }
        Sender.Tell(new GroupConfirmed(m.Gid, _node, _confirmed.Contains(m.Gid) ? null
            : _drops.ContainsKey(m.Gid) ? $"its views were dropped: no confirmation within the lease ({_lease.TotalSeconds:0.#}s) or the group was released"
            : "no view of this group here"));
    }

    /// <summary>No confirmation within the lease: the coordinator (or the group) is gone, so nobody will ever report these views.</summary>
    private void OnConfirmExpired(ConfirmExpired m)
    {
        if (_confirmed.Contains(m.Gid) || !_views.Remove(m.Gid, out var views)) return;
        _log.LogWarning("fleet group {Gid}: the coordinator did not confirm the views taken here within the lease ({Lease}) (coordinator or a member gone?): dropping the views of {Volumes}",
            m.Gid, _lease, string.Join(", ", views.Select(v => v.Served.Spec.Name)));
        _drops[m.Gid] = DropViewsAsync(views, "its fleet group was not confirmed within the lease");
    }

    private void OnRelease(ReleaseGroup m)
    {
        if (_hold is { } hold && hold.Gid == m.Gid)
        {
            if (hold.Acting)
            {
                // The checkpoint or take goes on (the hold ends with it); a take's views are dropped once it ends.
                hold.ReleaseWaiters.Add(Sender);
                return;
            }
            foreach (var w in hold.HoldWaiters) w.Tell(new GroupHeld(m.Gid, _node, "released by the coordinator"));
            Finish(new GroupCheckpointed(m.Gid, _node, [], "the coordinator abandoned the group before its checkpoint"));
        }
        else if (!_finished.ContainsKey(m.Gid))
            Remember(m.Gid, new GroupCheckpointed(m.Gid, _node, [], "the coordinator abandoned the group"));   // a late Hold is refused
        AnswerRelease(m.Gid, Sender);
    }

    /// <summary>Drops the views the group took here (once; repeats get the same list), then answers the Release.</summary>
    private void AnswerRelease(string gid, IActorRef to)
    {
        if (_views.Remove(gid, out var views))
        {
            _confirmed.Remove(gid);
            Timers.Cancel(ConfirmTimer(gid));
            _drops[gid] = DropViewsAsync(views, "its fleet group failed");
        }
        if (_drops.TryGetValue(gid, out var dropping))
            dropping.PipeTo(to, success: d => new GroupReleased(gid, _node, d));
        else to.Tell(new GroupReleased(gid, _node, []));
    }

    private async Task<IReadOnlyList<string>> DropViewsAsync(IReadOnlyList<(ServedVolume Served, BackupView View)> views, string why)
    {
        var gone = new List<string>();
        foreach (var (v, view) in views)
            if (await _volumes.Host.DropViewAsync(v, view, why).ConfigureAwait(false)) gone.Add(v.Spec.Name);
        return gone;
    }

    private void Expire()
    {
        var hold = _hold!;
        if (hold.Acting)
        {
            // The checkpoint (or take) already began inside the lease; the hold ends with it (one metadata commit away).
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
        while (_finishedOrder.Count > Remembered)
        {
            var old = _finishedOrder.Dequeue();
            _finished.Remove(old);
            // Confirmed views are the user's now: forgotten here, kept. Unconfirmed ones stay until their lease.
            if (_confirmed.Remove(old)) _views.Remove(old);
            _drops.Remove(old);
        }
    }

    protected override void PostStop()
    {
        // The fleet system stopping (downed, daemon stopping) never leaves writes held, nor views nobody will confirm.
        if (_hold is not null) Finish(new GroupCheckpointed(_hold.Gid, _node, [], "member left the fleet"));
        foreach (var (gid, views) in _views.Where(v => !_confirmed.Contains(v.Key)).ToList())
        {
            _log.LogWarning("fleet group {Gid}: this node left the fleet before the coordinator confirmed its views: dropping them", gid);
            _ = DropViewsAsync(views, "this node left the fleet before its fleet group was confirmed");
        }
        base.PostStop();
    }
}
