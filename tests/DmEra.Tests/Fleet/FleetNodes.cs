using System.Net;
using System.Net.Sockets;
using DmEra.Tests.Daemon;
using DmEra.Tests.Tools;

namespace DmEra.Tests.Fleet;

/// <summary>
/// Several real `dmera serve` processes joined as a fleet on loopback: each in its own temp directory with
/// its own volumes, fleet ports picked free (bound at 0, then passed), every node given the same seed list.
/// Timings come from a test profile (fast failure detection and downing) laid over the shipped akka.hocon.
/// </summary>
public sealed class FleetNodes : IAsyncDisposable
{
    /// <summary>Fleet tests run one at a time: several fleets of daemons at once on two cores would miss heartbeats.</summary>
    public const string Collection = "fleet";
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    public const double HoldLeaseSeconds = 4;

    private readonly TempDir[] _dirs;
    private readonly string[] _volumes;
    private readonly Func<int, string> _extraHocon;

    public FleetNodes(string[] names, int[] ports, string[][] volumes, double stableAfterSeconds, Func<int, string>? extraHocon = null)
    {
        _extraHocon = extraHocon ?? (_ => "");
        Names = names;
        Ports = ports;
        _volumes = volumes.Select(v => string.Join(',', v)).ToArray();
        StableAfterSeconds = stableAfterSeconds;
        Nodes = new DaemonProcess?[names.Length];
        _dirs = names.Select(_ => new TempDir()).ToArray();   // one each, kept over restarts
    }

    public string[] Names { get; }
    public int[] Ports { get; }
    public double StableAfterSeconds { get; }
    public DaemonProcess?[] Nodes { get; }
    public DaemonProcess this[int i] => Nodes[i] ?? throw new InvalidOperationException($"node {Names[i]} is not running");

    /// <summary>Nodes named as given, ports ascending in that order (so the first has the lowest address), all started at once.</summary>
    public static async Task<FleetNodes> StartAsync(string[] names, string[][] volumes, double stableAfterSeconds = 3, Func<int, string>? extraHocon = null)
    {
        var fleet = new FleetNodes(names, FreePorts(names.Length), volumes, stableAfterSeconds, extraHocon);
        try
        {
            await Task.WhenAll(names.Select((_, i) => fleet.StartNodeAsync(i)));
        }
        catch
        {
            await fleet.DisposeAsync();
            throw;
        }
        return fleet;
    }

    public async Task StartNodeAsync(int i)
    {
        Nodes[i] = null;   // a restart that fails leaves no disposed process behind for the cleanup to signal
        var dir = _dirs[i];
        var config = dir.File("fleet-test.hocon");
        File.WriteAllText(config, File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "akka.hocon")) + $$"""

            dmera.fleet {
              hold-lease = {{HoldLeaseSeconds}}s
              phase-timeout = 1.5s
              # An answer waits for a group's two phases: well above twice the phase timeout, so a group that
              # succeeded on a loaded host is not reported as not answering.
              request-timeout = 10s
              rejoin-after = 1s
              leave-timeout = 3s
              system.akka.cluster {
                seed-node-timeout = 2s
                gossip-interval = 200ms
                leader-actions-interval = 200ms
                unreachable-nodes-reaper-interval = 500ms
                down-removal-margin = 1s
                split-brain-resolver.stable-after = {{StableAfterSeconds}}s
                # 2 cores shared by several daemons and a build: a generous pause, no false unreachability.
                failure-detector { heartbeat-interval = 500ms, acceptable-heartbeat-pause = 3s }
              }
            }
            {{_extraHocon(i)}}
            """);
        var args = new List<string> { "--config", config, "--cluster-listen", $"127.0.0.1:{Ports[i]}", "--node-name", Names[i] };
        foreach (var p in Ports) args.AddRange(["--cluster-seed", $"127.0.0.1:{p}"]);
        foreach (var v in _volumes[i].Split(',', StringSplitOptions.RemoveEmptyEntries))
            args.AddRange(["--volume", File.Exists(dir.File($"{v}.origin"))   // a restart serves the same files
                ? $"name={v},origin={dir.File($"{v}.origin")},metadata={dir.File($"{v}.meta")},block-size=128"
                : DaemonEndToEndTests.Volume(dir, v)]);
        Nodes[i] = await DaemonProcess.StartAsync(dir, [.. args]);
    }

    /// <summary>
    /// Free ports below the kernel's ephemeral range. Ports taken by bind(0) come from that range, and so do
    /// the local ports of every outgoing connection the other tests make while a fleet starts or a node
    /// restarts. One of those took a node's port between the pick and the daemon's bind and failed a CI run.
    /// Below the range, only a server bound to that port by number can hold it.
    /// </summary>
    internal static int[] FreePorts(int n)
    {
        var ephemeralLow = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries)[0]);
        var (low, high) = (Math.Max(1025, ephemeralLow - 12000), ephemeralLow - 1);
        if (high - low < 1000) throw new InvalidOperationException($"the ephemeral port range starts at {ephemeralLow}: too few ports below it for fleet tests");
        var ports = new SortedSet<int>();
        while (ports.Count < n)
        {
            var port = Random.Shared.Next(low, high + 1);
            if (port == 10809 || ports.Contains(port)) continue;   // never NBD's own port
            var l = new TcpListener(IPAddress.Loopback, port);
            try
            {
                l.Start();
                ports.Add(port);
            }
            catch (SocketException)
            {
            }
            finally
            {
                l.Stop();
            }
        }
        return [.. ports];
    }

    /// <summary>Polls <paramref name="check"/> until it holds, failing with the nodes' logs after <paramref name="within"/>.</summary>
    public async Task WaitUntilAsync(string what, Func<bool> check, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? Bound);
        while (!check())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"{what}: not within {(within ?? Bound).TotalSeconds}s\n{Logs()}");
            await Task.Delay(250);
        }
    }

    /// <summary>
    /// Node <paramref name="asking"/> lists <paramref name="volumes"/> and sees every member up. A member still
    /// joining answers for its volumes already, but the split brain resolver does not count it: a scenario that
    /// kills or stops a member then could leave the survivors a minority, downed (seen in a fleet-suite run).
    /// </summary>
    public Task WaitFormedAsync(int asking, string[] volumes) =>
        WaitUntilAsync($"{Names[asking]} lists {string.Join(", ", volumes)} and sees {Names.Length} members up",
            () => Ask(asking, "volumes").SequenceEqual(volumes) && Ask(asking, "nodes").Count(l => l.Split(' ') is [_, "up", ..]) == Names.Length);

    public string Logs() => string.Join("\n", Nodes.Select((n, i) => $"==== {Names[i]}\n{n?.Log}"));

    public ProcessResult Admin(int i, params string[] args) => this[i].Admin(args);

    /// <summary>One admin-socket command without starting a dmera process (fast enough to poll with): the reply's lines, or "error: ...".</summary>
    public string[] Ask(int i, string line)
    {
        try
        {
            using var client = DmEra.Admin.AdminClient.Connect(this[i].AdminSocket);
            using var timeout = new CancellationTokenSource(Bound);
            return [.. client.SendAsync(line, timeout.Token).GetAwaiter().GetResult()];
        }
        catch (DmEra.Admin.AdminCommandException e)
        {
            return [$"error: {e.Message}"];
        }
    }

    public static void Signal(DaemonProcess d, Mono.Unix.Native.Signum signal) => Mono.Unix.Native.Syscall.kill(d.Pid, signal);

    public async ValueTask DisposeAsync()
    {
        foreach (var n in Nodes.Where(n => n is not null && !n.HasExited)) Signal(n!, Mono.Unix.Native.Signum.SIGCONT);
        await Task.WhenAll(Nodes.Where(n => n is not null).Select(n => n!.DisposeAsync().AsTask()));
        foreach (var d in _dirs) d.Dispose();
    }
}
