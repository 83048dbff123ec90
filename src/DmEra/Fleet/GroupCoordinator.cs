using Akka.Actor;
using Microsoft.Extensions.Logging;

namespace DmEra.Fleet;

/// <summary>
/// The fleet's group-checkpoint coordinator, a cluster singleton (on the oldest member). It only decides
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

    public GroupCoordinator(TimeSpan phaseTimeout, ILogger log)
    {
        Receive<RunGroup>(m =>
        {
            if (_outcomes.TryGetValue(m.Gid, out var done)) Sender.Tell(done);
            else if (_running.TryGetValue(m.Gid, out var run)) run.Forward(m);
            else
            {
                var child = Context.ActorOf(GroupRun.Props(m, phaseTimeout, log));
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

    public static Props Props(TimeSpan phaseTimeout, ILogger log) => Akka.Actor.Props.Create(() => new GroupCoordinator(phaseTimeout, log));

    private sealed record RunEnded(string Gid);
}

/// <summary>
/// One group checkpoint: Hold on every member; when all hold, Checkpoint on every member (each checkpoints
/// and releases its own); on a refusal or no answer within the phase timeout, Release everywhere. The
/// outcome names every volume with its new era or the reason it has none. Messages to members are re-sent
/// within a phase (they are idempotent per group id), so a lost one costs a retry, not the group.
/// </summary>
internal sealed class GroupRun : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan Retry = TimeSpan.FromMilliseconds(200);
    private readonly RunGroup _group;
    private readonly TimeSpan _phaseTimeout;
    private readonly List<IActorRef> _requesters = new();
    private readonly Dictionary<string, MemberVolumes> _byAddress;
    private readonly Dictionary<string, string?> _held = new();
    private readonly Dictionary<string, GroupCheckpointed> _checkpointed = new();
    private readonly ILogger _log;

    public ITimerScheduler Timers { get; set; } = null!;

    public GroupRun(RunGroup group, TimeSpan phaseTimeout, ILogger log)
    {
        _log = log;
        _group = group;
        _phaseTimeout = phaseTimeout;
        _byAddress = group.Members.ToDictionary(m => m.Address);
        Become(Holding);
    }

    public static Props Props(RunGroup group, TimeSpan phaseTimeout, ILogger log) => Akka.Actor.Props.Create(() => new GroupRun(group, phaseTimeout, log));

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

    private void StartCheckpoints()
    {
        Become(Checkpointing);
        foreach (var m in _group.Members) Participant(m.Address).Tell(new CheckpointGroup(_group.Gid));
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
                Participant(m.Address).Tell(new CheckpointGroup(_group.Gid));
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
        var lines = _group.Members.SelectMany(m => m.Volumes.Select(v => $"{v} no new era (node {m.Node})")).Order(StringComparer.Ordinal).ToList();
        Reply(new GroupOutcome(_group.Gid, lines, $"group checkpoint not done, no volume got a new era (every hold is released): {string.Join("; ", why)}"));
    }

    private void Complete()
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
                if (era?.Era is { } e) lines.Add($"{v} era {e} (node {m.Node})");
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

    private void Reply(GroupOutcome outcome)
    {
        if (outcome.Error is null) _log.LogInformation("fleet group {Gid} (coordinator): {Eras}", _group.Gid, string.Join(", ", outcome.Lines));
        else _log.LogWarning("fleet group {Gid} (coordinator): {Error}", _group.Gid, outcome.Error);
        foreach (var r in _requesters) r.Tell(outcome);
        Context.Parent.Tell(outcome);
        Context.Stop(Self);
    }
}
