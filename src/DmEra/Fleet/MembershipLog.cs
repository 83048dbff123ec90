using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;

namespace DmEra.Fleet;

/// <summary>Logs each membership change and reachability change of the fleet once, as this member sees it.</summary>
public sealed class MembershipLog : ReceiveActor
{
    private readonly Cluster _cluster = Cluster.Get(Context.System);

    public MembershipLog(ILogger log)
    {
        static string Who(Member m) => $"{FleetNames.NodeName(m)} ({m.Address})";
        Receive<ClusterEvent.MemberJoined>(e => log.LogInformation("fleet: {Node} is joining", Who(e.Member)));
        Receive<ClusterEvent.MemberUp>(e => log.LogInformation("fleet: {Node} is up", Who(e.Member)));
        Receive<ClusterEvent.MemberWeaklyUp>(e => log.LogInformation("fleet: {Node} is weakly up (joined while a member is unreachable)", Who(e.Member)));
        Receive<ClusterEvent.MemberLeft>(e => log.LogInformation("fleet: {Node} is leaving", Who(e.Member)));
        Receive<ClusterEvent.MemberExited>(e => log.LogInformation("fleet: {Node} has left", Who(e.Member)));
        Receive<ClusterEvent.MemberDowned>(e => log.LogWarning("fleet: {Node} was downed", Who(e.Member)));
        Receive<ClusterEvent.MemberRemoved>(e => log.LogInformation("fleet: {Node} was removed (was {Previous})", Who(e.Member), e.PreviousStatus));
        Receive<ClusterEvent.UnreachableMember>(e => log.LogWarning("fleet: {Node} is unreachable", Who(e.Member)));
        Receive<ClusterEvent.ReachableMember>(e => log.LogInformation("fleet: {Node} is reachable again", Who(e.Member)));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
    }

    public static Props Props(ILogger log) => Akka.Actor.Props.Create(() => new MembershipLog(log));

    protected override void PreStart() => _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
        typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));

    protected override void PostStop() => _cluster.Unsubscribe(Self);
}

public static class FleetNames
{
    public static string NodeName(Member m) =>
        m.Roles.FirstOrDefault(r => r.StartsWith(FleetSettings.NodeRolePrefix, StringComparison.Ordinal))?[FleetSettings.NodeRolePrefix.Length..]
        ?? m.Address.ToString();
}
