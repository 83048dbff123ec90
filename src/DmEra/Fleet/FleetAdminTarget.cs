using Akka.Actor;
using Akka.Cluster;
using DmEra.Admin;
using DmEra.Daemon;

namespace DmEra.Fleet;

/// <summary>
/// Admin commands of a fleet member: a volume this daemon serves is handled here as before; any other
/// volume is looked up in the members' directories and the command runs on the member serving it. A
/// member that does not answer within dmera.fleet.request-timeout is reported, never waited on longer.
/// Group checkpoints over volumes of several members go to the coordinator singleton.
/// </summary>
public sealed class FleetAdminTarget(FleetHost fleet) : IAdminTarget
{
    private IAdminTarget Local => fleet.Volumes.Host;
    private TimeSpan Timeout => fleet.Settings.RequestTimeout;

    public IReadOnlyList<string> VolumeNames => fleet.Volumes.Names;

    private (ActorSystem System, Cluster Cluster) Fleet()
    {
        var system = fleet.System ?? throw new AdminCommandException("this node is out of the fleet right now (it was downed or cut off and is rejoining): only its own volumes can be reached");
        return (system, Cluster.Get(system));
    }

    private static ActorSelection Directory(ActorSystem system, Address address) =>
        system.ActorSelection(new RootActorPath(address) / "user" / VolumeDirectory.Name);

    /// <summary>Every member's volumes (this one's from memory); members that do not answer in time are listed apart.</summary>
    private async Task<(List<(string Volume, Member Member)> Volumes, List<string> Silent)> ListAsync()
    {
        var (system, cluster) = Fleet();
        var self = cluster.SelfMember;
        var others = cluster.State.Members.Where(m => m.Address != self.Address && m.Status is MemberStatus.Up or MemberStatus.WeaklyUp or MemberStatus.Leaving).ToList();
        var unreachable = cluster.State.Unreachable.Select(m => m.Address).ToHashSet();
        var volumes = fleet.Volumes.Names.Select(v => (v, self)).ToList();
        var silent = new List<string>();
        var answers = others.Select(async m =>
        {
            if (unreachable.Contains(m.Address)) return (m, (VolumeList?)null, (string?)"unreachable");
            try
            {
                return (m, (VolumeList?)await Directory(system, m.Address).Ask<VolumeList>(new ListVolumes(), Timeout).ConfigureAwait(false), (string?)null);
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                return (m, (VolumeList?)null, (string?)$"no answer within {Timeout.TotalSeconds:0.#}s");
            }
        });
        foreach (var (member, list, why) in await Task.WhenAll(answers).ConfigureAwait(false))
        {
            if (list is null) silent.Add($"{FleetNames.NodeName(member)} ({why})");
            else volumes.AddRange(list.Volumes.Select(v => (v, member)));
        }
        foreach (var (v, m) in volumes) _seen[v] = m.UniqueAddress;
        return (volumes, silent);
    }

    /// <summary>
    /// Where each volume was last seen. Volumes never move between members, so an entry holds as long as that
    /// member (the same incarnation) is in the fleet; a group checkpoint then needs no listing round first.
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, UniqueAddress> _seen = new(StringComparer.Ordinal);

    private Member? Cached(string volume, Cluster cluster) =>
        _seen.TryGetValue(volume, out var at) ? cluster.State.Members.FirstOrDefault(m => m.UniqueAddress == at && m.Status == MemberStatus.Up) : null;

    private async Task<Member> LocateAsync(string volume)
    {
        if (Cached(volume, Fleet().Cluster) is { } cached) return cached;
        var (volumes, silent) = await ListAsync().ConfigureAwait(false);
        var found = volumes.Where(v => v.Volume == volume).Select(v => v.Member).FirstOrDefault();
        if (found is not null) return found;
        throw new AdminCommandException($"unknown volume '{volume}' in the fleet" +
            (silent.Count > 0 ? $"; not asked: {string.Join(", ", silent)}" : ""));
    }

    private async Task<IReadOnlyList<string>> RemoteAsync(string volume, IFleetMessage request, CancellationToken ct)
    {
        var member = await LocateAsync(volume).ConfigureAwait(false);
        var (system, _) = Fleet();
        FleetReply reply;
        try
        {
            reply = await Directory(system, member.Address).Ask<FleetReply>(request, Timeout, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw new AdminCommandException($"volume {volume}: node {FleetNames.NodeName(member)} did not answer within {Timeout.TotalSeconds:0.#}s (unreachable?)");
        }
        if (reply.Error is null) return reply.Lines;
        _seen.TryRemove(volume, out _);   // a refusal may mean it is not there any more: look it up afresh next time
        throw new AdminCommandException($"volume {volume} (node {FleetNames.NodeName(member)}): {reply.Error}");
    }

    public Task<IReadOnlyList<string>> MessageAsync(string volume, string message, CancellationToken ct)
    {
        if (fleet.Volumes.IsLocal(volume)) return Local.MessageAsync(volume, message, ct);
        var words = message.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        // A take on another node goes as a group of one: a plain remote message that arrives after this request
        // timed out would still run there, leaving a view nobody knows of; the coordinator's take is confirmed
        // or dropped by the member within the hold lease.
        return words.Length > 0 && words[0].Equals("take_backup_snap", StringComparison.OrdinalIgnoreCase)
            ? TakeOneRemoteAsync(volume, VolumeHost.ParseSince(words), ct)
            : RemoteAsync(volume, new VolumeMessage(volume, message), ct);
    }

    /// <summary>The group's line for the one volume, as the volume's own node prints a take ("era E export V@backup ...").</summary>
    private async Task<IReadOnlyList<string>> TakeOneRemoteAsync(string volume, uint? since, CancellationToken ct)
    {
        var lines = await RunGroupAsync([volume], true, since, ct).ConfigureAwait(false);
        return lines.Select(l => System.Text.RegularExpressions.Regex.Replace(
            l.StartsWith(volume + " ", StringComparison.Ordinal) ? l[(volume.Length + 1)..] : l, @" \(node [^)]*\)$", "")).ToList();
    }

    public async Task<IReadOnlyList<string>> StatusAsync(string? volume, bool json, CancellationToken ct)
    {
        if (volume is null) return await StatusAllAsync(json, ct).ConfigureAwait(false);
        var local = fleet.Volumes.IsLocal(volume);
        var lines = local ? await Local.StatusAsync(volume, json, ct).ConfigureAwait(false)
            : await RemoteAsync(volume, new VolumeStatus(volume, json), ct).ConfigureAwait(false);
        if (!json || lines is not [var line]) return lines;
        // In a fleet one volume's JSON names its node, as the fleet-wide form does.
        var o = System.Text.Json.Nodes.JsonNode.Parse(line)!.AsObject();
        o["node"] = local ? fleet.Settings.Name : _seen.TryGetValue(volume, out var at) && Fleet().Cluster.State.Members.FirstOrDefault(m => m.UniqueAddress == at) is { } m
            ? FleetNames.NodeName(m) : null;
        return [o.ToJsonString()];
    }

    /// <summary>
    /// <c>status</c> with no volume: every volume of the fleet, as the daemon alone prints its own ("NAME: LINE" in
    /// name order; with JSON one array, each object with its "node"). A member that does not answer in time is
    /// named on a "# not listed" line (JSON: the error, so a script does not take a partial list for the fleet).
    /// </summary>
    private async Task<IReadOnlyList<string>> StatusAllAsync(bool json, CancellationToken ct)
    {
        var (system, cluster) = Fleet();
        var self = cluster.SelfMember;
        var unreachable = cluster.State.Unreachable.Select(m => m.Address).ToHashSet();
        var others = cluster.State.Members.Where(m => m.Address != self.Address && m.Status is MemberStatus.Up or MemberStatus.WeaklyUp or MemberStatus.Leaving).ToList();
        var asks = others.Select(async m =>
        {
            if (unreachable.Contains(m.Address)) return (m, (FleetReply?)null, "unreachable");
            try
            {
                var reply = await Directory(system, m.Address).Ask<FleetReply>(new AllStatus(json), Timeout, ct).ConfigureAwait(false);
                return (m, reply.Error is null ? reply : null, reply.Error ?? "");
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                return (m, (FleetReply?)null, $"no answer within {Timeout.TotalSeconds:0.#}s");
            }
        }).ToList();
        var mine = await fleet.Volumes.StatusAllAsync(json, ct).ConfigureAwait(false);
        var answers = await Task.WhenAll(asks).ConfigureAwait(false);
        var silent = answers.Where(a => a.Item2 is null).Select(a => $"{FleetNames.NodeName(a.m)} ({a.Item3})").ToList();
        var all = answers.Where(a => a.Item2 is not null).SelectMany(a => a.Item2!.Lines.Select(l => (Node: FleetNames.NodeName(a.m), Line: l)))
            .Concat(mine.Select(l => (Node: FleetNames.NodeName(self), Line: l))).ToList();
        if (!json)
            return all.Select(x => x.Line).Order(StringComparer.Ordinal).Concat(silent.Select(s => $"# not listed: the volumes of {s}")).ToList();
        if (silent.Count > 0) throw new AdminCommandException($"status of the fleet incomplete, no answer from {string.Join(", ", silent)}");
        var array = new System.Text.Json.Nodes.JsonArray();
        foreach (var (node, line) in all.OrderBy(x => x.Line, StringComparer.Ordinal))
        {
            var o = System.Text.Json.Nodes.JsonNode.Parse(line)!.AsObject();
            o["node"] = node;
            array.Add(o);
        }
        IReadOnlyList<string> result = [array.ToJsonString()];
        return result;
    }

    public Task<IReadOnlyList<string>> TakeBackupAsync(IReadOnlyList<string> volumes, string[] words, CancellationToken ct) =>
        // A group of this daemon's own volumes needs nobody else: it stays as fast and as available as without a fleet.
        volumes.All(fleet.Volumes.IsLocal)
            ? Local.TakeBackupAsync(volumes, words, ct)
            : RunGroupAsync(volumes, true, VolumeHost.ParseSince(words), ct);

    public Task<IReadOnlyList<string>> GroupCheckpointAsync(IReadOnlyList<string> names, CancellationToken ct) =>
        names.All(fleet.Volumes.IsLocal) ? Local.GroupCheckpointAsync(names, ct) : RunGroupAsync(names, false, null, ct);

    /// <summary>A group checkpoint, or a group take_backup_snap [SINCE], over volumes of several members: run by the coordinator.</summary>
    private async Task<IReadOnlyList<string>> RunGroupAsync(IReadOnlyList<string> names, bool takeViews, uint? since, CancellationToken ct)
    {
        var (system, cluster) = Fleet();
        var cached = names.Select(n => (n, fleet.Volumes.IsLocal(n) ? cluster.SelfMember : Cached(n, cluster))).ToList();
        var (volumes, silent) = cached.All(c => c.Item2 is not null)
            ? (cached.Select(c => (Volume: c.n, Member: c.Item2!)).ToList(), new List<string>())
            : await ListAsync().ConfigureAwait(false);
        var unknown = names.Where(n => volumes.All(v => v.Volume != n)).ToList();
        if (unknown.Count > 0)
            throw new AdminCommandException($"unknown volume(s) in the fleet: {string.Join(", ", unknown)}" +
                (silent.Count > 0 ? $"; not asked: {string.Join(", ", silent)}" : ""));
        var members = volumes.Where(v => names.Contains(v.Volume)).GroupBy(v => v.Member)
            .Select(g => new MemberVolumes(g.Key.Address.ToString(), FleetNames.NodeName(g.Key), g.Select(v => v.Volume).Order(StringComparer.Ordinal).ToList()))
            .ToList();
        // The singleton runs on the oldest member; asked there directly, so a request is never buffered to run late.
        var oldest = cluster.State.Members.Where(m => m.Status is MemberStatus.Up or MemberStatus.Leaving && m.HasRole("dmera"))
            .OrderBy(m => m, Member.AgeOrdering).FirstOrDefault()
            ?? throw new AdminCommandException("no fleet member is up to coordinate the group");
        var coordinator = system.ActorSelection(new RootActorPath(oldest.Address) / "user" / GroupCoordinator.Name / "singleton");
        var gid = Guid.NewGuid().ToString("N")[..12];
        GroupOutcome outcome;
        try
        {
            outcome = await coordinator.Ask<GroupOutcome>(new RunGroup(gid, members, takeViews, since), Timeout, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw new AdminCommandException($"group {gid}: the coordinator on {FleetNames.NodeName(oldest)} did not answer within {Timeout.TotalSeconds:0.#}s (it moves to the next oldest member after a failure); any hold it took ends by itself within {fleet.Settings.HoldLease.TotalSeconds:0.#}s" +
                (takeViews ? $"; a view taken for the group that the coordinator did not confirm is dropped by its node within {fleet.Settings.HoldLease.TotalSeconds:0.#}s of its take" +
                    $" (if the coordinator confirmed the views before it went, they stay: see dmera status VOLUME --json for each (the fleet-wide form refuses while a member does not answer), drop them with dmera message --group {string.Join(',', names)} drop_backup_snap)" : ""));
        }
        return outcome.Error is null ? outcome.Lines : throw new AdminCommandException($"group {gid}: {outcome.Error}");
    }

    public async Task<IReadOnlyList<string>> VolumesAsync(CancellationToken ct)
    {
        var (volumes, silent) = await ListAsync().ConfigureAwait(false);
        return volumes.OrderBy(v => v.Volume, StringComparer.Ordinal).Select(v => $"{v.Volume} {FleetNames.NodeName(v.Member)}")
            .Concat(silent.Select(s => $"# not listed: the volumes of {s}")).ToList();
    }

    public Task<IReadOnlyList<string>> NodesAsync(CancellationToken ct)
    {
        var (_, cluster) = Fleet();
        var state = cluster.State;
        var unreachable = state.Unreachable.Select(m => m.Address).ToHashSet();
        var oldest = state.Members.Where(m => m.Status is MemberStatus.Up or MemberStatus.Leaving && m.HasRole("dmera"))
            .OrderBy(m => m, Member.AgeOrdering).FirstOrDefault();
        IReadOnlyList<string> lines = state.Members.OrderBy(m => FleetNames.NodeName(m), StringComparer.Ordinal).Select(m =>
            $"{FleetNames.NodeName(m)} {m.Status.ToString().ToLowerInvariant()} {m.Address}" +
            (unreachable.Contains(m.Address) ? " unreachable" : "") +
            (m.Address == cluster.SelfAddress ? " (this node)" : "") +
            (m == oldest ? " (coordinator)" : "")).ToList();
        // A node whose seeds do not answer (a wrong address, a fleet not started yet) would otherwise list nothing and
        // look fine. One that is joining is listed as such, as a member.
        if (!state.Members.Any(m => m.Address == cluster.SelfAddress))
            lines = [.. lines, $"# this node has not joined the fleet (yet): joining through {string.Join(", ", fleet.Settings.Seeds.Select(x => $"{x.Host}:{x.Port}"))}; its log says more"];
        return Task.FromResult(lines);
    }
}
