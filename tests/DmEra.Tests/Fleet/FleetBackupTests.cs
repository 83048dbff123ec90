using System.Diagnostics;
using System.Text.Json;
using DmEra.Tests.Daemon;
using DmEra.Tests.Tools;
using Mono.Unix.Native;
using static DmEra.Tests.Daemon.DaemonEndToEndTests;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Fleet;

/// <summary>A group take_backup_snap over volumes of several fleet members: real daemons, real NBD clients.</summary>
[Collection(FleetNodes.Collection)]
public sealed class FleetBackupTests
{
    private const int BlockBytes = 64 * 1024;
    private static readonly string[] Group = ["a1", "b1", "c1"];

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static JsonElement View(FleetNodes fleet, int asking, string volume)
    {
        var r = fleet.Admin(asking, "status", volume, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        return JsonDocument.Parse(r.StdOut).RootElement.GetProperty("view");
    }

    [Fact]
    public async Task A_take_of_a_volume_on_a_stalled_node_fails_and_leaves_no_view_once_the_node_goes_on()
    {
        await using var fleet = await FleetNodes.StartAsync(["a", "b", "c"], [["a1"], ["b1"], ["c1"]], stableAfterSeconds: 30);
        await fleet.WaitFormedAsync(1, ["a1 a", "b1 b", "c1 c"]);
        foreach (var asking in new[] { 1, 2 })   // one volume's JSON names its node, asked there or elsewhere
            Assert.Equal("c", JsonDocument.Parse(fleet.Admin(asking, "status", "c1", "--json").StdOut).RootElement.GetProperty("node").GetString());
        var ok = fleet.Admin(1, "message", "c1", "take_backup_snap");   // asked on b, taken on c: answered as c answers
        Assert.True(ok.ExitCode == 0, ok + fleet.Logs());
        Assert.Matches(@"^era \d+ export c1@backup$", ok.StdOut.Trim());
        Assert.Equal(0, fleet.Admin(1, "message", "c1", "drop_backup_snap").ExitCode);

        // c stalls while b asks: the take fails. The request reaches c when it goes on; a view taken then must not
        // stay held, since its caller was told it failed (a plain remote message used to run late and keep it).
        FleetNodes.Signal(fleet[2], Signum.SIGSTOP);
        var stalled = fleet.Admin(1, "message", "c1", "take_backup_snap");
        FleetNodes.Signal(fleet[2], Signum.SIGCONT);
        Assert.True(stalled.ExitCode != 0, stalled.ToString());
        await fleet.WaitUntilAsync("c answers again", () => fleet.Ask(2, "status c1").Length == 1 && !fleet.Ask(2, "status c1")[0].StartsWith("error"));
        await Task.Delay(TimeSpan.FromSeconds(2 * FleetNodes.HoldLeaseSeconds + 5));   // past any lease a late take started
        Assert.True(View(fleet, 2, "c1").ValueKind == JsonValueKind.Null, fleet.Logs());
        var again = fleet.Admin(1, "message", "c1", "take_backup_snap");
        Assert.True(again.ExitCode == 0, again + fleet.Logs());
    }

    /// <summary>Write n of a writer puts byte n+1 in the whole of block n+1 (block 0 was written before the take).</summary>
    private sealed record Write(int N, long Issued, long Done);

    [Fact]
    public async Task One_group_take_holds_the_same_instant_on_three_nodes_and_a_failed_or_killed_member_leaves_no_view_anywhere()
    {
        await using var fleet = await FleetNodes.StartAsync(["a", "b", "c"], [["a1"], ["b1"], ["c1"]], stableAfterSeconds: 10);
        await fleet.WaitFormedAsync(0, ["a1 a", "b1 b", "c1 c"]);
        var eras = Group.Select(v => uint.Parse(fleet.Ask(0, $"status {v}")[0].Split(' ')[2])).ToArray();
        for (var i = 0; i < 3; i++) QemuIo(fleet[i], Group[i], "write -P 0x11 0 64k");

        // One writer per node, each write to a block of its own with a known pattern, on one clock with the take.
        var clock = Stopwatch.StartNew();
        long taking = long.MaxValue, answered = long.MaxValue;
        var done = new int[3];
        var writers = Enumerable.Range(0, 3).Select(i => Task.Run(() =>
        {
            var writes = new List<Write>();
            var deadline = clock.Elapsed + FleetNodes.Bound;
            for (var n = 0; writes.Count(w => w.Issued > Volatile.Read(ref answered)) < 3 && clock.Elapsed < deadline; n++)
            {
                var issued = clock.ElapsedTicks;
                QemuIo(fleet[i], Group[i], $"write -P {n + 1} {(n + 1) * BlockBytes} 64k");
                writes.Add(new Write(n, issued, clock.ElapsedTicks));
                Interlocked.Increment(ref done[i]);
            }
            return writes;
        })).ToArray();
        await fleet.WaitUntilAsync("a few writes done on every node", () => done.All(n => Volatile.Read(ref n) >= 3));
        Volatile.Write(ref taking, clock.ElapsedTicks);
        var answer = fleet.Admin(1, "message", "--group", string.Join(',', Group), "take_backup_snap");
        Volatile.Write(ref answered, clock.ElapsedTicks);
        var written = await Task.WhenAll(writers);
        Assert.True(answer.ExitCode == 0, answer + fleet.Logs());
        Assert.Equal(Group.Select((v, i) => $"{v} era {eras[i]} export {v}@backup (node {fleet.Names[i]})"), Lines(answer.StdOut));

        for (var i = 0; i < 3; i++)
        {
            var copy = fleet[i].Dir.File("view.raw");
            var r = Run("nbdcopy", fleet[i].Uri($"{Group[i]}@backup"), copy);
            Assert.True(r.ExitCode == 0, r.ToString());
            var view = File.ReadAllBytes(copy);
            Assert.True(view.AsSpan(0, BlockBytes).IndexOfAnyExcept((byte)0x11) < 0, "the write before the take is in the view");
            int before = 0, after = 0;
            foreach (var w in written[i])
            {
                var block = view.AsSpan((w.N + 1) * BlockBytes, BlockBytes);
                if (w.Done < taking)
                {
                    before++;
                    Assert.True(block.IndexOfAnyExcept((byte)(w.N + 1)) < 0, $"{Group[i]}: write {w.N}, acknowledged before the take, is not in its view");
                }
                else if (w.Issued > answered)
                {
                    after++;
                    Assert.True(block.IndexOfAnyExcept((byte)0) < 0, $"{Group[i]}: write {w.N}, issued after the answer, is in its view");
                }
                else Assert.True(block.IndexOfAnyExcept((byte)0) < 0 || block.IndexOfAnyExcept((byte)(w.N + 1)) < 0, $"{Group[i]}: block {w.N + 1} is torn in the view");
            }
            Assert.True(before > 0 && after > 0, $"{Group[i]}: {before} writes before the take, {after} after");
        }

        // Views end fleet-wide as they began: each volume's drop runs on its own node.
        var drop = fleet.Admin(0, "message", "--group", string.Join(',', Group), "drop_backup_snap");
        Assert.True(drop.ExitCode == 0, drop.ToString());
        Assert.Equal(["a1 dropped", "b1 dropped", "c1 dropped"], Lines(drop.StdOut));

        // c1 has a view of its own: c refuses, and the views a and b took for the group are dropped again.
        Assert.Equal(0, fleet.Admin(2, "message", "c1", "take_backup_snap").ExitCode);
        var refused = fleet.Admin(0, "message", "--group", string.Join(',', Group), "take_backup_snap");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("group take_backup_snap failed, no view kept", refused.StdErr);
        Assert.Contains("a1 no view (node a): taken, then dropped because the group failed", refused.StdErr);
        Assert.Contains("b1 no view (node b): taken, then dropped because the group failed", refused.StdErr);
        Assert.Contains("c1 no view (node c): no view kept here: backup view already exists", refused.StdErr);
        Assert.Equal(JsonValueKind.Null, View(fleet, 0, "a1").ValueKind);
        Assert.Equal(JsonValueKind.Null, View(fleet, 0, "b1").ValueKind);
        Assert.NotEqual(JsonValueKind.Null, View(fleet, 0, "c1").ValueKind);   // its own stays
        Assert.Equal(0, fleet.Admin(0, "message", "c1", "drop_backup_snap").ExitCode);

        // c stalls and is killed while a and b hold for a group: no view anywhere, b writes again within the lease.
        int Holds() => Lines(fleet[1].Log).Count(l => l.Contains("holding first-writes on b1"));
        var holds = Holds();
        FleetNodes.Signal(fleet[2], Signum.SIGSTOP);
        var group = Task.Run(() => fleet.Admin(0, "message", "--group", string.Join(',', Group), "take_backup_snap"));
        await fleet.WaitUntilAsync("b holds b1 for the group", () => Holds() > holds, TimeSpan.FromSeconds(20));
        fleet[2].Kill();
        var held = Stopwatch.StartNew();
        QemuIo(fleet[1], "b1", "write -P 0x44 0 64k");
        Assert.True(held.Elapsed < TimeSpan.FromSeconds(FleetNodes.HoldLeaseSeconds + 20), $"{held.Elapsed}");
        var killed = await group;
        Assert.Equal(1, killed.ExitCode);
        Assert.Contains("group take_backup_snap not done, no view taken", killed.StdErr);
        Assert.Contains("node c did not answer", killed.StdErr);
        Assert.Equal(JsonValueKind.Null, View(fleet, 0, "a1").ValueKind);
        Assert.Equal(JsonValueKind.Null, View(fleet, 1, "b1").ValueKind);
        QemuIo(fleet[1], "b1", "read -P 0x44 0 64k");

        // The survivors take a group view again, with SINCE, without waiting for c to be downed.
        eras = new[] { "a1", "b1" }.Select(v => uint.Parse(fleet.Ask(1, $"status {v}")[0].Split(' ')[2])).ToArray();
        var again = fleet.Admin(1, "message", "--group", "a1,b1", "take_backup_snap", "1");
        Assert.True(again.ExitCode == 0, again + fleet.Logs());
        Assert.Equal([$"a1 era {eras[0]} export a1@backup bitmap qemu:dirty-bitmap:since-1 (node a)", $"b1 era {eras[1]} export b1@backup bitmap qemu:dirty-bitmap:since-1 (node b)"],
            Lines(again.StdOut));
    }

    [Fact]
    public async Task A_coordinator_killed_between_the_takes_and_their_confirmation_leaves_no_view_past_the_lease()
    {
        // Phases long enough for the test's signals to land inside them whatever the machine's speed; a lease well
        // under stable-after, so that only the lease (not b being downed) can end b's view.
        const int lease = 16;   // the phase timeout (7 s) must stay under half of it
        await using var fleet = await FleetNodes.StartAsync(["a", "b", "c"], [["a1"], ["b1"], ["c1"]], stableAfterSeconds: 60,
            extraHocon: _ => $"dmera.fleet {{ hold-lease = {lease}s, phase-timeout = 7s, request-timeout = 15s }}");
        await fleet.WaitFormedAsync(2, ["a1 a", "b1 b", "c1 c"]);
        Assert.Contains(fleet.Ask(2, "nodes"), l => l.StartsWith("a up ") && l.EndsWith("(coordinator)"));

        // c holds first (b is stopped), then c stops and b goes on: b holds and takes its view, and the coordinator
        // waits for c's take; then the coordinator's node dies. b's view was never confirmed.
        FleetNodes.Signal(fleet[1], Signum.SIGSTOP);
        var group = Task.Run(() => fleet.Admin(2, "message", "--group", "b1,c1", "take_backup_snap"));
        await fleet.WaitUntilAsync("c holds c1 for the group", () => fleet[2].Log.Contains("holding first-writes on c1"), TimeSpan.FromSeconds(20));
        // c logs its hold before its answer leaves through remoting: stopped at once, its answer could stay inside
        // it, and the coordinator would give up on the hold phase instead (seen once on a loaded machine).
        await Task.Delay(TimeSpan.FromSeconds(1));
        FleetNodes.Signal(fleet[2], Signum.SIGSTOP);
        FleetNodes.Signal(fleet[1], Signum.SIGCONT);
        await fleet.WaitUntilAsync("b takes b1's view for the group", () => fleet[1].Log.Contains("backup view taken: b1"), TimeSpan.FromSeconds(20));
        fleet[0].Kill();
        Assert.NotEqual(JsonValueKind.Null, View(fleet, 1, "b1").ValueKind);
        await fleet.WaitUntilAsync("b drops b1's unconfirmed view", () => View(fleet, 1, "b1").ValueKind == JsonValueKind.Null, TimeSpan.FromSeconds(lease + 20));
        Assert.Contains("did not confirm the views taken here within the lease", fleet[1].Log);
        Assert.DoesNotContain("out of the fleet", fleet[1].Log);   // the lease dropped it, not a downing

        // c goes on: its request fails saying what became of the views, and c keeps none either.
        FleetNodes.Signal(fleet[2], Signum.SIGCONT);
        var answer = await group;
        Assert.Equal(1, answer.ExitCode);
        Assert.Contains("the coordinator on a did not answer", answer.StdErr);
        Assert.Contains($"a view taken for the group that the coordinator did not confirm is dropped by its node within {lease}s", answer.StdErr);
        await fleet.WaitUntilAsync("c1 has no view", () => View(fleet, 2, "c1").ValueKind == JsonValueKind.Null, TimeSpan.FromSeconds(lease + 20));
        var own = fleet.Admin(1, "message", "b1", "take_backup_snap");   // b1 is free for a view of its own
        Assert.True(own.ExitCode == 0, own.ToString());
    }
}
