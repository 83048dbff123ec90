using Akka.Actor;
using Akka.Cluster;

namespace DmEra.Fleet;

/// <summary>
/// This member's entry in the fleet's directory, at the same path on every member: lists the volumes it
/// serves and runs status and messages on them for admin requests that arrived at another member. Also
/// keeps volume names unique: whenever a member comes up, each volume whose name an older member already
/// serves is withdrawn here (the older member keeps it; every member sees the same ages, so they agree).
/// </summary>
public sealed class VolumeDirectory : ReceiveActor
{
    public const string Name = "volumes";

    private readonly FleetVolumes _volumes;
    private readonly string _node;
    private readonly TimeSpan _timeout;
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    /// <summary>The members up, from this actor's own events: Cluster.State is updated apart and may lag them.</summary>
    private readonly HashSet<Member> _up = new();

    public VolumeDirectory(FleetVolumes volumes, string node, TimeSpan timeout)
    {
        _volumes = volumes;
        _node = node;
        _timeout = timeout;
        Receive<ListVolumes>(_ => Sender.Tell(new VolumeList(_node, _volumes.Names)));
        Receive<VolumeStatus>(m => Run(m.Volume, ct => _volumes.Host.StatusAsync(m.Volume, m.Json, ct)));
        Receive<VolumeMessage>(m => Run(m.Volume, ct => _volumes.Host.MessageAsync(m.Volume, m.Text, ct)));
        Receive<ClusterEvent.MemberUp>(e =>
        {
            _up.RemoveWhere(m => m.Address == e.Member.Address);
            _up.Add(e.Member);
            CheckNames();
        });
        Receive<ClusterEvent.MemberRemoved>(e => _up.RemoveWhere(m => m.Address == e.Member.Address));
        Receive<ClusterEvent.CurrentClusterState>(_ => { });
        Receive<VolumeList>(OnOlderMemberVolumes);
    }

    public static Props Props(FleetVolumes volumes, string node, TimeSpan timeout) =>
        Akka.Actor.Props.Create(() => new VolumeDirectory(volumes, node, timeout));

    protected override void PreStart() => _cluster.Subscribe(Self, ClusterEvent.InitialStateAsEvents, typeof(ClusterEvent.MemberUp), typeof(ClusterEvent.MemberRemoved));
    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void Run(string volume, Func<CancellationToken, Task<IReadOnlyList<string>>> action)
    {
        if (!_volumes.IsLocal(volume))
        {
            Sender.Tell(new FleetReply([], $"node {_node} does not serve volume '{volume}'"));
            return;
        }
        RunAsync(action, _timeout).PipeTo(Sender);
    }

    private static async Task<FleetReply> RunAsync(Func<CancellationToken, Task<IReadOnlyList<string>>> action, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return new FleetReply((await action(cts.Token).ConfigureAwait(false)).ToList(), null);
        }
        catch (OperationCanceledException)
        {
            return new FleetReply([], $"timed out after {timeout.TotalSeconds:0}s");
        }
        catch (Exception e)
        {
            return new FleetReply([], e.Message);
        }
    }

    /// <summary>Asks every member older than this one for its volumes; the answers arrive as <see cref="VolumeList"/>.</summary>
    private void CheckNames()
    {
        if (_up.FirstOrDefault(m => m.Address == _cluster.SelfAddress) is not { } self) return;
        foreach (var m in _up.Where(m => m.IsOlderThan(self)))
            Context.ActorSelection(new RootActorPath(m.Address) / "user" / Name).Tell(new ListVolumes());
    }

    private void OnOlderMemberVolumes(VolumeList list)
    {
        foreach (var name in list.Volumes.Where(_volumes.IsLocal))
            _volumes.Withdraw(name, list.Node);
    }
}
