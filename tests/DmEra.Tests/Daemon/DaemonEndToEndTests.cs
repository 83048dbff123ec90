using System.Net.Sockets;
using System.Text;
using DmEra.Tests.Tools;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Daemon;

/// <summary>The daemon as people run it: the real process, real NBD clients, the real era tools.</summary>
public sealed class DaemonEndToEndTests
{
    private const int BlockBytes = 64 * 1024;

    internal static string Volume(TempDir dir, string name, long originBytes = 64L << 20)
    {
        var origin = dir.File($"{name}.origin");
        var meta = dir.File($"{name}.meta");
        using (var f = File.Create(origin)) f.SetLength(originBytes);
        using (var f = File.Create(meta)) f.SetLength(8L << 20);
        return $"name={name},origin={origin},metadata={meta},block-size=128";
    }

    internal static void QemuIo(DaemonProcess d, string volume, params string[] commands)
    {
        var args = new List<string> { "-f", "raw" };
        foreach (var c in commands) args.AddRange(["-c", c]);
        args.Add(d.Uri(volume));
        var r = Run("qemu-io", [.. args]);
        Assert.True(r.ExitCode == 0 && !r.StdOut.Contains("failed", StringComparison.OrdinalIgnoreCase), r.ToString());
    }

    private static List<(long Begin, long End)> Invalidated(string stdout) =>
        stdout.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("<block ") || l.StartsWith("<range ")).Select(l =>
        {
            var nums = System.Text.RegularExpressions.Regex.Matches(l, "\"(\\d+)\"").Select(m => long.Parse(m.Groups[1].Value)).ToArray();
            return nums.Length == 1 ? (nums[0], nums[0] + 1) : (nums[0], nums[1]);
        }).ToList();

    [Fact]
    public async Task A_sparse_metadata_file_is_allocated_before_the_volume_serves()
    {
        using var dir = new TempDir();
        var volume = Volume(dir, "vm");
        long AllocatedBytes() => long.Parse(Run("stat", "-c", "%b", dir.File("vm.meta")).StdOut.Trim()) * 512;
        Assert.Equal(0, AllocatedBytes());
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", volume);
        Assert.True(AllocatedBytes() >= 8L << 20, $"{AllocatedBytes()} bytes allocated");
        QemuIo(d, "vm", "write -P 0x11 0 1M");   // and it serves
    }

    [Fact]
    public async Task The_backup_workflow_lists_exactly_the_blocks_written_since_the_checkpoint()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "vm"));
        QemuIo(d, "vm", "write -P 0x11 0 1M");
        var checkpoint = d.Admin("message", "vm", "checkpoint");
        Assert.True(checkpoint.ExitCode == 0, checkpoint.ToString());
        Assert.Matches(@"^era \d+$", checkpoint.StdOut.Trim());
        var era = uint.Parse(checkpoint.StdOut.Trim()["era ".Length..]);

        // Blocks 32-33, and an unaligned 4 KiB write straddling nothing but block 80.
        QemuIo(d, "vm", "write -P 0x22 2M 128k", "write -P 0x33 5246976 4k");
        var snap = d.Admin("message", "vm", "take_metadata_snap");
        Assert.True(snap.ExitCode == 0, snap.ToString());
        Assert.Matches(@"^held root \d+$", snap.StdOut.Trim());
        Assert.EndsWith($" {snap.StdOut.Trim()["held root ".Length..]}", d.Admin("status", "vm").StdOut.Trim());

        var meta = dir.File("vm.meta");
        var real = Run("era_invalidate", "--written-since", era.ToString(), "--metadata-snapshot", meta);
        Assert.True(real.ExitCode == 0, real.ToString());
        Assert.Equal([(32L, 34L), (80L, 81L)], Invalidated(real.StdOut));
        var ours = Dmera("invalidate", "--written-since", era.ToString(), "--metadata-snapshot", meta);
        Assert.Equal(Invalidated(real.StdOut), Invalidated(ours.StdOut));

        // The same answer over NBD, no metadata access needed: flag 1 = written since the era.
        var map = Run("nbdinfo", $"--map=x-dm-era:written-since:{era}", d.Uri("vm"));
        Assert.True(map.ExitCode == 0, map.ToString());
        var flagged = map.StdOut.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 3 && f[2] == "1").Select(f => (long.Parse(f[0]) / BlockBytes, (long.Parse(f[0]) + long.Parse(f[1])) / BlockBytes)).ToList();
        Assert.Equal([(32L, 34L), (80L, 81L)], flagged);

        // A picture of what changed, from the live volume's held snapshot, found by volume name.
        var png = dir.File("changed.png");
        var drawn = d.Admin("map", "vm", "--since", era.ToString(), "-o", png);
        Assert.True(drawn.ExitCode == 0 && new FileInfo(png).Length > 1000, drawn.ToString());

        Assert.Equal(0, d.Admin("message", "vm", "drop_metadata_snap").ExitCode);
        var refused = d.Admin("map", "vm", "-o", png);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("is live: run 'dmera message VOLUME take_metadata_snap' first", refused.StdErr);
        Assert.EndsWith(" -", d.Admin("status", "vm").StdOut.Trim());
        var again = d.Admin("message", "vm", "drop_metadata_snap");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("no snap to drop", again.StdErr);
    }

    [Fact]
    public async Task The_era_context_reports_the_era_each_block_was_last_written_in()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "v"));
        QemuIo(d, "v", "write 0 64k");
        var era2 = uint.Parse(d.Admin("message", "v", "checkpoint").StdOut.Trim()["era ".Length..]);
        QemuIo(d, "v", "write 128k 64k");
        var map = Run("nbdinfo", "--map=x-dm-era:era", d.Uri("v"));
        Assert.True(map.ExitCode == 0, map.ToString());
        var lines = map.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Equal(("0", "65536", (era2 - 1).ToString()), (lines[0][0], lines[0][1], lines[0][2]));
        Assert.Equal(("131072", "65536", era2.ToString()), (lines[2][0], lines[2][1], lines[2][2]));

        // base:allocation: the origin's holes (the sparse origin has data only where it was written).
        var allocation = Run("nbdinfo", "--map", d.Uri("v"));
        Assert.True(allocation.ExitCode == 0, allocation.ToString());
        var extents = allocation.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Equal(("0", "0"), (extents[0][0], extents[0][2]));          // data at 0
        Assert.Contains(extents, e => e[2] == "3");                         // and hole,zero elsewhere
    }

    [Fact]
    public async Task A_write_answered_before_it_reached_the_origin_is_data_in_base_allocation_at_once()
    {
        // Each write below is a first write in a fresh era, answered before its commit (write-back); the
        // block-status query right behind it on the same connection must not see the hole it filled.
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "v"));
        var r = Run("/usr/bin/python3", "-c", """
            import sys, nbd
            h = nbd.NBD()
            h.add_meta_context("base:allocation")
            h.connect_uri(sys.argv[1])
            holes = []
            for i in range(300):
                off = i * 131072 + 65536          # one write per other 64 KiB block: a hole on both sides
                h.pwrite(b"\x5a" * 4096, off)
                seen = []
                h.block_status(4096, off, lambda ctx, o, entries, err: seen.extend(entries) if ctx == "base:allocation" else None)
                if seen[1] & 1: holes.append(off)
            print("holes reported under answered writes:", holes[:10], len(holes))
            sys.exit(1 if holes else 0)
            """, d.Uri("v"));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [Fact]
    public async Task Bad_admin_input_gets_an_error_and_the_daemon_keeps_serving()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "v"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(d.AdminSocket));

        var unknownVolume = d.Admin("message", "nosuch", "checkpoint");
        Assert.Equal(1, unknownVolume.ExitCode);
        Assert.Contains("unknown volume 'nosuch'", unknownVolume.StdErr);
        var unknownMessage = d.Admin("message", "v", "frobnicate");
        Assert.Equal(1, unknownMessage.ExitCode);
        Assert.Contains("unsupported message 'frobnicate'", unknownMessage.StdErr);

        Assert.StartsWith("error: unknown command", RawAdmin(d, "garbage in\n"));
        Assert.StartsWith("error: ", RawAdmin(d, "message v\n"));
        Assert.StartsWith("error: line longer than", RawAdmin(d, new string('x', 100_000) + "\n"));
        using (var s = Connect(d)) s.Send("status v"u8.ToArray());   // and vanish mid-command
        using (var s = Connect(d)) s.Send(new byte[] { 0xff, 0xfe, 0x00, 0x0a });

        Assert.Equal(0, d.Admin("status", "v").ExitCode);
        QemuIo(d, "v", "write -P 0x5a 0 4k", "read -P 0x5a 0 4k");
    }

    private static Socket Connect(DaemonProcess d)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Connect(new UnixDomainSocketEndPoint(d.AdminSocket));
        return s;
    }

    private static string RawAdmin(DaemonProcess d, string text)
    {
        using var s = Connect(d);
        s.ReceiveTimeout = 10_000;
        try
        {
            s.Send(Encoding.UTF8.GetBytes(text));
        }
        catch (SocketException)
        {
            // The daemon may close before reading an over-long line to its end.
        }
        var buffer = new byte[4096];
        var n = s.Receive(buffer);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    [Fact]
    public async Task Sigterm_stops_cleanly_and_leaves_metadata_era_check_accepts_with_nothing_lost()
    {
        using var dir = new TempDir();
        var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "v"));
        QemuIo(d, "v", "write 0 64k", "write 1M 64k");
        Assert.Equal(0, await d.StopAsync());
        await d.DisposeAsync();
        var meta = dir.File("v.meta");
        Assert.Equal(0, Run("era_check", meta).ExitCode);
        Assert.Equal(0, Dmera("check", meta).ExitCode);
        var invalidated = Invalidated(Run("era_invalidate", "--written-since", "1", meta).StdOut);
        Assert.Equal([(0L, 1L), (16L, 17L)], invalidated);
    }

    [Fact]
    public async Task A_second_daemon_on_the_same_files_is_refused_and_the_first_keeps_serving()
    {
        using var dir = new TempDir();
        var volume = Volume(dir, "v");
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", volume);
        var second = DaemonProcess.RunToExit(dir, "--volume", volume);
        Assert.Equal(1, second.ExitCode);
        Assert.Contains("in use by another process", second.StdOut + second.StdErr);
        QemuIo(d, "v", "write 0 4k");
    }

    [Fact]
    public async Task A_volume_that_cannot_open_is_reported_and_the_others_serve()
    {
        using var dir = new TempDir();
        var bad = Volume(dir, "bad");
        File.WriteAllBytes(dir.File("bad.meta"), Enumerable.Repeat((byte)0x42, 65536).ToArray());
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "good"), "--volume", bad);
        Assert.Contains("volume bad:", d.Log);
        Assert.Equal("good", d.Admin("volumes").StdOut.Trim());
        QemuIo(d, "good", "write 0 4k");

        var onlyBad = DaemonProcess.RunToExit(dir, "--volume", bad);
        Assert.Equal(1, onlyBad.ExitCode);
        Assert.Contains("no volume could start", onlyBad.StdOut + onlyBad.StdErr);
    }

    [Fact]
    public async Task A_group_checkpoint_moves_every_volume_of_the_group_to_a_new_era_at_once()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "disk1"), "--volume", Volume(dir, "disk2"));
        var before = d.Admin("status", "--json").StdOut;
        var r = d.Admin("message", "--group", "disk1,disk2", "checkpoint");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(["disk1 era 2", "disk2 era 2"], r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("\"current_era\":1", before);
        var unknown = d.Admin("message", "--group", "disk1,nosuch", "checkpoint");
        Assert.Equal(1, unknown.ExitCode);
        var idle = d.Admin("status", "--json", "disk1").StdOut;
        Assert.Contains("\"commit_us_p50\":null", idle);
        Assert.Contains("\"first_write_wait_us_p50\":null", idle);
        QemuIo(d, "disk1", "write 0 4k");
        QemuIo(d, "disk1", "write 0 4k");   // marked already: no second commit
        using var after = System.Text.Json.JsonDocument.Parse(d.Admin("status", "--json", "disk1").StdOut);
        Assert.Equal(1, after.RootElement.GetProperty("commits").GetInt64());
        Assert.Equal(1, after.RootElement.GetProperty("first_writes").GetInt64());
        Assert.Equal(1, after.RootElement.GetProperty("blocks_marked").GetInt64());
        var p50 = after.RootElement.GetProperty("commit_us_p50").GetDouble();
        Assert.InRange(p50, 1, 10_000_000);
        Assert.Equal(p50, after.RootElement.GetProperty("commit_us_p99").GetDouble());
        // The first write waited for its commit and then some (the hop to the writer and back).
        var wait = after.RootElement.GetProperty("first_write_wait_us_p50").GetDouble();
        Assert.True(wait >= p50, $"first-write wait {wait} µs, its commit {p50} µs");
        Assert.Equal(wait, after.RootElement.GetProperty("first_write_wait_us_p99").GetDouble());
    }

    [Fact]
    public async Task Serve_with_no_volume_flags_serves_the_embedded_default_era0_from_var()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir);
        Assert.True(File.Exists(dir.File("var/era0.origin")));
        Assert.Equal(1L << 30, new FileInfo(dir.File("var/era0.origin")).Length);
        QemuIo(d, "era0", "write -P 0x77 0 64k", "read -P 0x77 0 64k");
        Assert.Matches(@"^era0: 8 \d+/4096 1 -$", d.Admin("status").StdOut.Trim());
    }
}
