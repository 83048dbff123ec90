using Akka.Actor;
using Microsoft.Extensions.Logging;

namespace DmEra.Fleet;

/// <summary>
/// The fleet's group-checkpoint (and group take_backup_snap) coordinator, a cluster singleton (on the oldest member). It only decides
/// the order of phases; the holds belong to the participants, which end them by themselves, so nothing
/// waits on this actor while holding writes. One run per group id: a repeated RunGroup joins the run in
/// progress or gets the remembered outcome.
/// </summary>
public sealed class GroupCoordinator : ReceiveActor
{
    public const string Name = "group-coordinator";
    private const int Remembered = 64;

    private readonly Dictionary<string, IActorRef> _running = new();
    private readonly Dictionary<string, GroupOutcome> _outcomes = new();
    private readonly Queue<string> _outcomeOrder = new();

    public GroupCoordinator(TimeSpan phaseTimeout, TimeSpan lease, ILogger log)
    {
        Receive<RunGroup>(m =>
        {
            if (_outcomes.TryGetValue(m.Gid, out var done)) Sender.Tell(done);
            else if (_running.TryGetValue(m.Gid, out var run)) run.Forward(m);
            else
            {
                var child = Context.ActorOf(GroupRun.Props(m, phaseTimeout, lease, log));
                Context.WatchWith(child, new RunEnded(m.Gid));
                _running[m.Gid] = child;
                child.Forward(m);
            }
        });
        Receive<GroupOutcome>(m =>
        {
            _outcomes[m.Gid] = m;
            _outcomeOrder.Enqueue(m.Gid);
            while (_outcomeOrder.Count > Remembered) _outcomes.Remove(_outcomeOrder.Dequeue());
        });
        Receive<RunEnded>(m => _running.Remove(m.Gid));
    }

    public static Props Props(TimeSpan phaseTimeout, TimeSpan lease, ILogger log) => Akka.Actor.Props.Create(() => new GroupCoordinator(phaseTimeout, lease, log));

    private sealed record RunEnded(string Gid);
}

/// <summary>
/// One group checkpoint: Hold on every member; when all hold, Checkpoint on every member (each checkpoints
/// and releases its own); on a refusal or no answer within the phase timeout, Release everywhere. The
/// outcome names every volume with its new era or the reason it has none. Messages to members are re-sent
/// within a phase (they are idempotent per group id), so a lost one costs a retry, not the group.
/// A group take_backup_snap runs the same way with TakeGroupViews for Checkpoint, but all or none: when every
/// member took its views, Confirm goes to every member (a member drops views left unconfirmed for its lease, so
/// this run dying before the Confirm leaves none); when any member did not take or confirm its views, Release
/// goes to every member, which drops the views it took for the group, and the outcome says which views were
/// dropped (or could not be confirmed dropped).
/// </summary>
internal sealed class GroupRun : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan Retry = TimeSpan.FromMilliseconds(200);
    private readonly RunGroup _group;
    private readonly TimeSpan _phaseTimeout;
    private readonly TimeSpan _lease;
    private readonly List<IActorRef> _requesters = new();
    private readonly Dictionary<string, MemberVolumes> _byAddress;
    private readonly Dictionary<string, string?> _held = new();
    private readonly Dictionary<string, GroupCheckpointed> _checkpointed = new();
    private readonly Dictionary<string, GroupConfirmed> _confirmed = new();
    private readonly Dictionary<string, IReadOnlyList<string>> _dropped = new();
    private readonly ILogger _log;

    public ITimerScheduler Timers { get; set; } = null!;

    public GroupRun(RunGroup group, TimeSpan phaseTimeout, TimeSpan lease, ILogger log)
    {
        _log = log;
        _group = group;
        _phaseTimeout = phaseTimeout;
        _lease = lease;
        _byAddress = group.Members.ToDictionary(m => m.Address);
        Become(Holding);
    }

    public static Props Props(RunGroup group, TimeSpan phaseTimeout, TimeSpan lease, ILogger log) =>
        Akka.Actor.Props.Create(() => new GroupRun(group, phaseTimeout, lease, log));

    private sealed record PhaseTimeout;
    private sealed record Resend;

    private ActorSelection Participant(string address) =>
        Context.ActorSelection($"{address}/user/{GroupParticipant.Name}");

    private string Address(GroupHeld m) => _group.Members.First(x => x.Node == m.Node).Address;

    protected override void PreStart()
    {
        foreach (var m in _group.Members) Participant(m.Address).Tell(new HoldGroup(_group.Gid, m.Volumes));
        Timers.StartSingleTimer("phase", new PhaseTimeout(), _phaseTimeout);
        Timers.StartPeriodicTimer("resend", new Resend(), Retry);
    }

    private void Holding()
    {
        Receive<RunGroup>(_ => _requesters.Add(Sender));
        Receive<GroupHeld>(m =>
        {
            if (m.Gid != _group.Gid || _group.Members.All(x => x.Node != m.Node)) return;
            _held[Address(m)] = m.Error;
            if (m.Error is not null) Abort();
            else if (_held.Count == _group.Members.Count) StartCheckpoints();
        });
        Receive<Resend>(_ =>
        {
            foreach (var m in _group.Members.Where(m => !_held.ContainsKey(m.Address)))
                Participant(m.Address).Tell(new HoldGroup(_group.Gid, m.Volumes));
        });
        Receive<PhaseTimeout>(_ => Abort());
    }

    private IFleetMessage Act => _group.TakeViews ? new TakeGroupViews(_group.Gid, _group.Since) : new CheckpointGroup(_group.Gid);
    private string What => _group.TakeViews ? "group take_backup_snap" : "group checkpoint";
    private string Nothing => _group.TakeViews ? "no view" : "no new era";

    private void StartCheckpoints()
    {
        Become(Checkpointing);
        foreach (var m in _group.Members) Participant(m.Address).Tell(Act);
        Timers.StartSingleTimer("phase", new PhaseTimeout(), _phaseTimeout);
    }

    private void Checkpointing()
    {
        Receive<RunGroup>(_ => _requesters.Add(Sender));
        Receive<GroupCheckpointed>(m =>
        {
            var member = _group.Members.FirstOrDefault(x => x.Node == m.Node);
            if (m.Gid != _group.Gid || member is null) return;
            _checkpointed[member.Address] = m;
            if (_checkpointed.Count == _group.Members.Count) Complete();
        });
        Receive<Resend>(_ =>
        {
            foreach (var m in _group.Members.Where(m => !_checkpointed.ContainsKey(m.Address)))
                Participant(m.Address).Tell(Act);
        });
        Receive<PhaseTimeout>(_ => Complete());
        Receive<GroupHeld>(_ => { });
    }

    /// <summary>Some member refused or did not answer the Hold: nobody checkpoints, everybody releases.</summary>
    private void Abort()
    {
        foreach (var m in _group.Members) Participant(m.Address).Tell(new ReleaseGroup(_group.Gid));
        var why = _group.Members.Select(m => _held.TryGetValue(m.Address, out var e)
                ? e is null ? null : $"node {m.Node}: {e}"
                : $"node {m.Node} did not answer within {_phaseTimeout.TotalSeconds:0.#}s (unreachable?)")
            .Where(x => x is not null);
        var lines = _group.Members.SelectMany(m => m.Volumes.Select(v => $"{v} {Nothing} (node {m.Node})")).Order(StringComparer.Ordinal).ToList();
        Reply(new GroupOutcome(_group.Gid, lines, $"{What} not done, {(_group.TakeViews ? "no view taken" : "no volume got a new era")} (every hold is released): {string.Join("; ", why)}"));
    }

    private void Complete()
    {
        if (_group.TakeViews)
        {
            if (_group.Members.Any(m => !_checkpointed.TryGetValue(m.Address, out var r) || r.Error is not null)) Undo();
            else StartConfirms();
            return;
        }
        Succeed();
    }

    /// <summary>Every member took its views: each keeps them once it has this Confirm (unconfirmed, it drops them at its lease).</summary>
    private void StartConfirms()
    {
        Become(Confirming);
        foreach (var m in _group.Members) Participant(m.Address).Tell(new ConfirmGroup(_group.Gid));
        Timers.StartSingleTimer("phase", new PhaseTimeout(), _phaseTimeout);
    }

    private void Confirming()
    {
        Receive<RunGroup>(_ => _requesters.Add(Sender));
        Receive<GroupConfirmed>(m =>
        {
            var member = _group.Members.FirstOrDefault(x => x.Node == m.Node);
            if (m.Gid != _group.Gid || member is null) return;
            _confirmed[member.Address] = m;
            if (m.Error is not null) Undo();
            else if (_confirmed.Count == _group.Members.Count) Succeed();
        });
        Receive<Resend>(_ =>
        {
            foreach (var m in _group.Members.Where(m => !_confirmed.ContainsKey(m.Address)))
                Participant(m.Address).Tell(new ConfirmGroup(_group.Gid));
        });
        Receive<PhaseTimeout>(_ => Undo());
        Receive<GroupHeld>(_ => { });
        Receive<GroupCheckpointed>(_ => { });
    }

    private void Succeed()
    {
        var lines = new List<string>();
        var failed = new List<string>();
        foreach (var m in _group.Members)
        {
            if (!_checkpointed.TryGetValue(m.Address, out var r))
            {
                foreach (var v in m.Volumes)
                {
                    lines.Add($"{v} unknown (node {m.Node} did not answer the checkpoint within {_phaseTimeout.TotalSeconds:0.#}s)");
                    failed.Add(v);
                }
                continue;
            }
            foreach (var v in m.Volumes)
            {
                var era = r.Volumes.FirstOrDefault(x => x.Volume == v);
                if (era?.Era is { } e) lines.Add(_group.TakeViews ? $"{v} {ViewLine(v, e)} (node {m.Node})" : $"{v} era {e} (node {m.Node})");
                else
                {
                    lines.Add($"{v} no new era (node {m.Node}): {era?.Error ?? r.Error}");
                    failed.Add(v);
                }
            }
        }
        lines.Sort(StringComparer.Ordinal);
        Reply(new GroupOutcome(_group.Gid, lines, failed.Count == 0 ? null
            : $"group checkpoint incomplete: {string.Join("; ", lines)}"));
    }

    /// <summary>As the daemon's own take answers: the era the view closes, its export, and its bitmap with SINCE.</summary>
    private string ViewLine(string volume, uint era) =>
        $"era {era} export {Daemon.BackupViewExport.ExportName(volume)}" +
        (_group.Since is { } since ? $" bitmap {Daemon.BackupViewExport.BitmapName(since)}" : "");

    /// <summary>A take some member did not complete: every member is told to release the group, dropping the views it took.</summary>
    private void Undo()
    {
        Become(Undoing);
        foreach (var m in _group.Members) Participant(m.Address).Tell(new ReleaseGroup(_group.Gid));
        Timers.StartSingleTimer("phase", new PhaseTimeout(), _phaseTimeout);
    }

    /// <summary>Members that reported views: their Release answers say which were dropped.</summary>
    private IEnumerable<MemberVolumes> WithViews =>
        _group.Members.Where(m => _checkpointed.TryGetValue(m.Address, out var r) && r.Volumes.Any(v => v.Era is not null));

    private void Undoing()
    {
        Receive<RunGroup>(_ => _requesters.Add(Sender));
        Receive<GroupReleased>(m =>
        {
            var member = _group.Members.FirstOrDefault(x => x.Node == m.Node);
            if (m.Gid != _group.Gid || member is null) return;
            _dropped[member.Address] = m.Dropped ?? [];
            if (WithViews.All(x => _dropped.ContainsKey(x.Address))) Undone();
        });
        Receive<Resend>(_ =>
        {
            foreach (var m in WithViews.Where(m => !_dropped.ContainsKey(m.Address)))
                Participant(m.Address).Tell(new ReleaseGroup(_group.Gid));
        });
        Receive<PhaseTimeout>(_ => Undone());
        Receive<GroupHeld>(_ => { });
        Receive<GroupCheckpointed>(_ => { });
        Receive<GroupConfirmed>(_ => { });
    }

    private void Undone()
    {
        var lines = new List<string>();
        var held = 0;
        foreach (var m in _group.Members)
        {
            if (!_checkpointed.TryGetValue(m.Address, out var r))
            {
                lines.AddRange(m.Volumes.Select(v => $"{v} no view (node {m.Node} did not answer the take within {_phaseTimeout.TotalSeconds:0.#}s: gone or unreachable; a view it took for the group, never confirmed, it drops by itself within {_lease.TotalSeconds:0.#}s)"));
                continue;
            }
            foreach (var v in m.Volumes)
            {
                var era = r.Volumes.FirstOrDefault(x => x.Volume == v);
                if (era?.Era is null) lines.Add($"{v} no view (node {m.Node}): {era?.Error ?? r.Error}");
                else if (_confirmed.TryGetValue(m.Address, out var refused) && refused.Error is not null)
                    lines.Add($"{v} no view (node {m.Node}): {refused.Error}");
                else if (!_dropped.TryGetValue(m.Address, out var dropped))
                {
                    if (_confirmed.TryGetValue(m.Address, out var c) && c.Error is null)
                    {
                        held++;
                        lines.Add($"{v} view taken, its drop not confirmed (node {m.Node} did not answer within {_phaseTimeout.TotalSeconds:0.#}s): check with dmera status {v}");
                    }
                    else lines.Add($"{v} no view (node {m.Node} did not answer within {_phaseTimeout.TotalSeconds:0.#}s; it drops the unconfirmed view it took by itself within {_lease.TotalSeconds:0.#}s)");
                }
                else if (dropped.Contains(v)) lines.Add($"{v} no view (node {m.Node}): taken, then dropped because the group failed");
                else
                {
                    held++;
                    lines.Add($"{v} view still held (node {m.Node}): its drop failed, see that node's log");
                }
            }
        }
        lines.Sort(StringComparer.Ordinal);
        Reply(new GroupOutcome(_group.Gid, lines, $"group take_backup_snap failed, {(held == 0 ? "no view kept" : $"{held} view(s) may still be held")}: {string.Join("; ", lines)}"));
    }

    private void Reply(GroupOutcome outcome)
    {
        if (outcome.Error is null) _log.LogInformation("fleet group {Gid} (coordinator): {Eras}", _group.Gid, string.Join(", ", outcome.Lines));
        else _log.LogWarning("fleet group {Gid} (coordinator): {Error}", _group.Gid, outcome.Error);
        foreach (var r in _requesters) r.Tell(outcome);
        Context.Parent.Tell(outcome);
        Context.Stop(Self);
    }
}
