using System.Diagnostics;
using DmEra.Tests.Daemon;
using DmEra.Tests.Tools;
using Mono.Unix.Native;
using static DmEra.Tests.Daemon.DaemonEndToEndTests;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Fleet;

/// <summary>Daemons joined as a fleet (issue 19): real `dmera serve` processes on loopback, real NBD clients.</summary>
[Collection(FleetNodes.Collection)]
public sealed class FleetTests
{
    private const int BlockBytes = 64 * 1024;

    private static string[] Lines(ProcessResult r) => r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static uint Era(string[] status)
    {
        Assert.True(status is [var line] && !line.StartsWith("error"), string.Join('\n', status));
        return uint.Parse(status[0].Split(' ')[2]);   // <md block size> <used>/<total> <era> <held root|->
    }

    /// <summary>Blocks flagged by the x-dm-era:written-since:ERA context of nbdinfo --map.</summary>
    private static HashSet<long> WrittenSince(DaemonProcess d, string volume, uint era)
    {
        var map = Run("nbdinfo", $"--map=x-dm-era:written-since:{era}", d.Uri(volume));
        Assert.True(map.ExitCode == 0, map.ToString());
        var blocks = new HashSet<long>();
        foreach (var f in map.StdOut.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(f => f.Length >= 3 && f[2] == "1"))
            for (var b = long.Parse(f[0]) / BlockBytes; b < (long.Parse(f[0]) + long.Parse(f[1])) / BlockBytes; b++) blocks.Add(b);
        return blocks;
    }

    private static bool Alive(DaemonProcess d) => Syscall.kill(d.Pid, 0) == 0;

    [Fact]
    public async Task Every_member_lists_every_volume_reaches_remote_ones_and_one_group_checkpoint_spans_all_three()
    {
        // c also has an a1: a, older in the fleet, keeps the name and c's a1 is not exported.
        await using var fleet = await FleetNodes.StartAsync(["a", "b", "c"], [["a1", "a2"], ["b1", "b2"], ["c1", "c2", "a1"]]);
        string[] all = ["a1 a", "a2 a", "b1 b", "b2 b", "c1 c", "c2 c"];
        await fleet.WaitUntilAsync("every member lists the six volumes with their nodes",
            () => Enumerable.Range(0, 3).All(i => fleet.Ask(i, "volumes").SequenceEqual(all)));
        Assert.Equal(all, Lines(fleet.Admin(0, "volumes")));
        Assert.Contains("node a already serves a volume of this name in the fleet", fleet[2].Log);
        var exports = Run("nbdinfo", "--list", $"nbd+unix:///?socket={fleet[2].NbdSocket}");
        Assert.Contains("export=\"c1\"", exports.StdOut);
        Assert.DoesNotContain("export=\"a1\"", exports.StdOut);
        var nodes = Lines(fleet.Admin(1, "nodes"));
        Assert.Equal(3, nodes.Length);
        Assert.All(nodes, n => Assert.Matches(@"^[abc] up akka\.tcp://dmera-fleet@127\.0\.0\.1:\d+", n));

        // status with no volume: the fleet's, as one daemon prints its own (c's withdrawn a1 is not among them).
        var status = fleet.Ask(1, "status");
        Assert.Equal(all.Select(v => v.Split(' ')[0]), status.Select(l => l.Split(':')[0]));
        Assert.All(status, l => Assert.Matches(@"^[abc][12]: \d+ \d+/\d+ \d+ -$", l));
        var json = System.Text.Json.JsonDocument.Parse(fleet.Ask(2, "status-json").Single()).RootElement;
        Assert.Equal(all, json.EnumerateArray().Select(v => $"{v.GetProperty("name").GetString()} {v.GetProperty("node").GetString()}"));

        // Status and a checkpoint of a volume on another node, from each node.
        for (var i = 0; i < 3; i++)
        {
            var remote = $"{fleet.Names[(i + 1) % 3]}2";
            var before = Era(fleet.Ask(i, $"status {remote}"));
            var checkpoint = fleet.Admin(i, "message", remote, "checkpoint");
            Assert.True(checkpoint.ExitCode == 0, checkpoint.ToString());
            Assert.Equal($"era {before + 1}", checkpoint.StdOut.Trim());
        }

        // One era boundary over a volume of each node, while each is being written.
        string[] group = ["a1", "b1", "c1"];
        for (var i = 0; i < 3; i++) QemuIo(fleet[i], group[i], "write -P 0x11 0 64k");   // block 0: before the group
        var eras = group.Select(v => Era(fleet.Ask(0, $"status {v}"))).ToArray();
        using var stopWriters = new CancellationTokenSource();
        var wrote = new int[3];
        var writers = Enumerable.Range(0, 3).Select(i => Task.Run(() =>
        {
            var n = 0;
            for (; !stopWriters.IsCancellationRequested; n++)
            {
                QemuIo(fleet[i], group[i], $"write -P 0x22 {(16 + n % 8) * BlockBytes} 64k");
                Interlocked.Increment(ref wrote[i]);
            }
            return n;
        })).ToArray();
        // Every writer under way before the group starts, however late a loaded thread pool starts them.
        await fleet.WaitUntilAsync("every node written once", () => wrote.All(n => Volatile.Read(ref n) > 0));
        var answer = fleet.Admin(1, "message", "--group", string.Join(',', group), "checkpoint");
        stopWriters.Cancel();
        Assert.All(await Task.WhenAll(writers), n => Assert.True(n > 0));
        Assert.True(answer.ExitCode == 0, answer + fleet.Logs());
        Assert.Equal(group.Select((v, i) => $"{v} era {eras[i] + 1} (node {fleet.Names[i]})"), Lines(answer));
        for (var i = 0; i < 3; i++)
        {
            QemuIo(fleet[i], group[i], "write -P 0x33 4M 64k");   // block 64: after the answer
            var since = WrittenSince(fleet[i], group[i], eras[i] + 1);
            Assert.Contains(64L, since);
            Assert.DoesNotContain(0L, since);
        }
    }

    [Fact]
    public async Task A_node_whose_seeds_do_not_answer_says_so_when_asked_for_the_nodes()
    {
        using var dir = new TempDir();
        // The seed: a port bound (so nobody else takes it) and not listening, so joins to it are refused.
        using var seed = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream,
            System.Net.Sockets.ProtocolType.Tcp) { ExclusiveAddressUse = true };
        seed.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var seedPort = ((System.Net.IPEndPoint)seed.LocalEndPoint!).Port;
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "v"), "--cluster-listen", $"127.0.0.1:{FleetNodes.FreePorts(1)[0]}",
            "--node-name", "lone", "--cluster-seed", $"127.0.0.1:{seedPort}");
        var nodes = d.Admin("nodes");
        Assert.True(nodes.ExitCode == 0, nodes.ToString());
        Assert.Contains($"# this node has not joined the fleet (yet): joining through 127.0.0.1:{seedPort}", nodes.StdOut);
        QemuIo(d, "v", "write -P 0x22 0 64k", "read -P 0x22 0 64k");   // its volume serves meanwhile
    }

    [Fact]
    public async Task A_coordinator_killed_mid_group_leaves_no_volume_held_past_the_lease_and_the_survivors_go_on()
    {
        // stable-after 10 s: nobody is downed while the lease runs out, so only the lease can end the hold.
        await using var fleet = await FleetNodes.StartAsync(["a", "b", "c"], [["a1"], ["b1"], ["c1"]], stableAfterSeconds: 10);
        await fleet.WaitFormedAsync(1, ["a1 a", "b1 b", "c1 c"]);
        Assert.Contains(fleet.Ask(1, "nodes"), l => l.StartsWith("a up ") && l.EndsWith("(coordinator)"));

        // c stalls, so the group cannot get past its holds; then the coordinator's node dies while b holds.
        FleetNodes.Signal(fleet[2], Signum.SIGSTOP);
        var group = Task.Run(() => fleet.Admin(1, "message", "--group", "b1,c1", "checkpoint"));
        await fleet.WaitUntilAsync("b holds b1 for the group", () => fleet[1].Log.Contains("holding first-writes on b1"), TimeSpan.FromSeconds(20));
        fleet[0].Kill();
        var held = Stopwatch.StartNew();
        var write = Task.Run(() => QemuIo(fleet[1], "b1", "write -P 0x44 0 64k"));
        // Meanwhile, a volume on the stalled node: a clear refusal within a bounded time.
        var status = Task.Run(() => fleet.Admin(1, "status", "c1"));
        var bound = TimeSpan.FromSeconds(FleetNodes.HoldLeaseSeconds + 10);
        Assert.True(await Task.WhenAny(write, Task.Delay(bound)) == write, $"a write to b1 still waits {bound.TotalSeconds}s after the hold\n{fleet.Logs()}");
        await write;
        var ranOut = $"the hold lease ({TimeSpan.FromSeconds(FleetNodes.HoldLeaseSeconds)}) ran out before the checkpoint arrived";
        await fleet.WaitUntilAsync("b logs that the hold lease ran out", () => fleet[1].Log.Contains(ranOut), TimeSpan.FromSeconds(20));
        Assert.True(held.Elapsed < bound);
        var answer = await group;
        Assert.NotEqual(0, answer.ExitCode);
        Assert.Contains("did not answer", answer.StdErr);

        Assert.True(await Task.WhenAny(status, Task.Delay(TimeSpan.FromSeconds(15))) == status, "status of c1 still waits after 15 s");
        Assert.NotEqual(0, (await status).ExitCode);
        Assert.Contains("c1", (await status).StdErr);

        // b and c are a majority: a is downed, the coordinator moves to b, and group checkpoints work again.
        FleetNodes.Signal(fleet[2], Signum.SIGCONT);
        await fleet.WaitUntilAsync("a group checkpoint on the survivors succeeds",
            () => fleet.Ask(2, "group-checkpoint b1,c1").All(l => !l.StartsWith("error")), TimeSpan.FromSeconds(90));

        // a restarts on its port and rejoins.
        await fleet[0].DisposeAsync();
        await fleet.StartNodeAsync(0);
        await fleet.WaitUntilAsync("a is back in the fleet", () => fleet.Ask(1, "nodes").Count(l => l.Contains(" up ")) == 3);
        var again = fleet.Admin(0, "message", "--group", "a1,b1,c1", "checkpoint");
        Assert.True(again.ExitCode == 0, again + fleet.Logs());
    }

    [Fact]
    public async Task A_node_cut_off_and_downed_keeps_serving_its_volumes_and_rejoins()
    {
        // a has the lower address: on a one-against-one split, keep-majority keeps a's side.
        await using var fleet = await FleetNodes.StartAsync(["a", "b"], [["a1"], ["b1"]], stableAfterSeconds: 2);
        await fleet.WaitFormedAsync(0, ["a1 a", "b1 b"]);
        QemuIo(fleet[1], "b1", "write -P 0x55 0 64k");

        FleetNodes.Signal(fleet[1], Signum.SIGSTOP);
        await fleet.WaitUntilAsync("a removes b", () => !fleet.Ask(0, "nodes").Any(l => l.StartsWith("b ")));
        var asked = Stopwatch.StartNew();
        var status = fleet.Admin(0, "status", "b1");
        Assert.NotEqual(0, status.ExitCode);
        Assert.Contains("unknown volume 'b1' in the fleet", status.StdErr);
        Assert.True(asked.Elapsed < TimeSpan.FromSeconds(15), $"{asked.Elapsed}");
        FleetNodes.Signal(fleet[1], Signum.SIGCONT);

        // From its resumption, through being downed, to its rejoin, b's NBD clients read and write.
        var rounds = 0;
        var deadline = DateTime.UtcNow + FleetNodes.Bound;
        while (!(fleet[1].Log.Contains("this node is out of the fleet") && fleet.Ask(0, "nodes").Any(l => l.StartsWith("b up "))))
        {
            Assert.True(DateTime.UtcNow < deadline, "b did not rejoin\n" + fleet.Logs());
            var pattern = 0x60 + rounds % 16;
            QemuIo(fleet[1], "b1", $"write -P {pattern} 64k 64k", $"read -P {pattern} 64k 64k", "read -P 0x55 0 64k");
            rounds++;
        }
        Assert.True(Alive(fleet[1]));
        Assert.True(rounds > 0);
        var info = Run("nbdinfo", fleet[1].Uri("b1"));
        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.Equal(["a1 a", "b1 b"], fleet.Ask(1, "volumes"));
    }

    [Fact]
    public async Task Without_fleet_flags_the_daemon_opens_no_port_but_nbd()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "vm"));
        var listening = Run("ss", "-ltnpH").StdOut.Split('\n').Where(l => l.Contains($"pid={d.Pid},")).ToList();
        Assert.Single(listening);   // NBD on 127.0.0.1:0 only
        var nodes = d.Admin("nodes");
        Assert.NotEqual(0, nodes.ExitCode);
        Assert.Contains("not in a fleet", nodes.StdErr);
        Assert.Equal("vm", d.Admin("volumes").StdOut.Trim());
    }
}
