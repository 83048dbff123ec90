using System.Text.Json;
using System.Text.RegularExpressions;
using DmEra.Backup;
using DmEra.Tests.Backup;
using DmEra.Tests.Tools;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Daemon;

/// <summary>The backup view against the real daemon, read by the real tools backup software uses.</summary>
public sealed class BackupViewTests
{
    private const int BlockBytes = 64 * 1024;

    private static string Volume(TempDir dir, string name, long originBytes = 64L << 20, string extra = "") =>
        DaemonEndToEndTests.Volume(dir, name, originBytes) + extra;

    private static string BackupUri(DaemonProcess d, string volume) => d.Uri(volume + "@backup");

    /// <summary>take_backup_snap; returns the era the view closes.</summary>
    private static uint Take(DaemonProcess d, string volume, uint? since = null)
    {
        var r = since is { } s ? d.Admin("message", volume, "take_backup_snap", s.ToString()) : d.Admin("message", volume, "take_backup_snap");
        Assert.True(r.ExitCode == 0, r.ToString());
        var m = Regex.Match(r.StdOut.Trim(), $@"^era (\d+) export {Regex.Escape(volume)}@backup( bitmap qemu:dirty-bitmap:since-(\d+))?$");
        Assert.True(m.Success, r.StdOut);
        Assert.Equal(since is not null, m.Groups[2].Success);
        return uint.Parse(m.Groups[1].Value);
    }

    private static void Drop(DaemonProcess d, string volume)
    {
        var r = d.Admin("message", volume, "drop_backup_snap");
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private static ProcessResult Python(TempDir dir, string script, params string[] args)
    {
        var path = dir.File($"script-{Guid.NewGuid():N}.py");
        File.WriteAllText(path, script);
        return Run("/usr/bin/python3", [path, .. args]);
    }

    private static JsonElement View(DaemonProcess d, string volume)
    {
        var r = d.Admin("status", volume, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        return JsonDocument.Parse(r.StdOut).RootElement.GetProperty("view");
    }

    private static string RepoFile(string relative)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "DmEra.sln"))) dir = dir.Parent;
        return Path.Combine(dir?.FullName ?? throw new InvalidOperationException("no DmEra.sln above the tests"), relative);
    }

    [Fact]
    public async Task A_copy_of_the_view_holds_the_instant_exactly_while_a_QD16_writer_runs()
    {
        using var dir = new TempDir();
        // Room for every block: the writer rewrites slots all over the volume after the instant.
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "vm", extra: $",backup-limit={64 << 20}"));
        DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0xaa 0 64M");
        // One process writes distinct 4 KiB slots at QD16 (each slot once, its own sequence number in it) and
        // takes the view from a thread in the middle, so issue, completion and the message share one clock.
        var r = Python(dir, """
            import nbd, sys, time, random, subprocess, threading
            live, backup, dll, admin = sys.argv[1:5]
            W, SIZE = 4096, 64 << 20
            A = b"\xaa" * W
            def payload(seq): return (b"B" + seq.to_bytes(4, "little")) * (W // 5) + b"B" * (W % 5)
            slots = list(range(SIZE // W)); random.Random(7).shuffle(slots)
            h = nbd.NBD(); h.connect_uri(live)
            issued, done, taken = {}, {}, {}
            def take():
                taken["t0"] = time.monotonic()
                r = subprocess.run(["dotnet", dll, "message", "vm", "take_backup_snap", "--admin-socket", admin], capture_output=True, text=True)
                taken["t1"] = time.monotonic()
                taken["out"] = (r.returncode, r.stdout, r.stderr)
            def completion(seq):
                def cb(err):
                    done[seq] = time.monotonic()
                    return 1
                return cb
            bufs, seq, after, th = {}, 0, 0, None
            while True:
                if th is None and seq == 600:
                    th = threading.Thread(target=take); th.start()
                if th is not None and "t1" not in taken and seq == len(slots) - 601:
                    # A slow take (a loaded machine): keep 601 slots for writes after it returns.
                    while h.aio_in_flight() > 0:
                        h.poll(-1)
                    th.join()
                if th is not None and not th.is_alive() and "t1" in taken:
                    after += 1
                if after > 600 or seq == len(slots):
                    break
                while h.aio_in_flight() >= 16:
                    h.poll(-1)
                bufs[seq] = nbd.Buffer.from_bytearray(bytearray(payload(seq)))
                issued[seq] = time.monotonic()
                h.aio_pwrite(bufs[seq], slots[seq] * W, completion=completion(seq))
                seq += 1
            while h.aio_in_flight() > 0:
                h.poll(-1)
            th.join()
            assert taken["out"][0] == 0, taken["out"]
            t0, t1 = taken["t0"], taken["t1"]
            b = nbd.NBD(); b.connect_uri(backup)
            view = b"".join(b.pread(1 << 20, o) for o in range(0, SIZE, 1 << 20))
            livecopy = b"".join(h.pread(1 << 20, o) for o in range(0, SIZE, 1 << 20))
            before = later = between = 0
            written = {slots[s]: s for s in range(seq)}
            for slot in range(SIZE // W):
                got = view[slot * W:(slot + 1) * W]
                s = written.get(slot)
                if s is None:
                    assert got == A, f"slot {slot} never written reads {got[:8]!r}"
                    continue
                assert livecopy[slot * W:(slot + 1) * W] == payload(s), f"live slot {slot} lost write {s}"
                if done[s] < t0:
                    before += 1
                    assert got == payload(s), f"write {s} acknowledged before the take is not in the view"
                elif issued[s] > t1:
                    later += 1
                    assert got == A, f"write {s} issued after the take returned is in the view"
                else:
                    between += 1
                    assert got in (A, payload(s)), f"slot {slot} is torn in the view"
            assert before >= 500 and later >= 500, (before, between, later)
            print("OK", before, between, later)
            """, d.Uri("vm"), BackupUri(d, "vm"), Path.Combine(AppContext.BaseDirectory, "dmera.dll"), d.AdminSocket);
        Assert.True(r.ExitCode == 0 && r.StdOut.StartsWith("OK"), r.ToString());
        var view = View(d, "vm");
        Assert.True(view.GetProperty("saved_bytes").GetInt64() > 0);
        Assert.Equal(JsonValueKind.Null, view.GetProperty("broken").ValueKind);
        Assert.Equal(0.1, view.GetProperty("read_share").GetDouble());   // akka.hocon's dmera.engine.view-read-share
        Assert.True(view.GetProperty("paced_reads").GetInt64() >= 0 && view.GetProperty("paced_rest_ms").GetDouble() >= 0);
        Drop(d, "vm");
        Assert.Equal(JsonValueKind.Null, View(d, "vm").ValueKind);
        Assert.False(File.Exists(dir.File("vm.meta.backup")));
    }

    [Fact]
    public async Task The_readme_backup_workflow_makes_an_incremental_equal_to_a_full_copy_of_the_second_view()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "vm"));
        DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0x11 0 8M", "write -P 0x12 40M 3M");
        var full = dir.File("full.img");
        var era1 = Take(d, "vm");
        DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0x13 1M 1M");   // after the instant: not in the full copy
        var copy = Run("nbdcopy", BackupUri(d, "vm"), full);
        Assert.True(copy.ExitCode == 0, copy.ToString());
        Drop(d, "vm");

        // Changes: unaligned writes, a zeroed range, a trim, and a block rewritten with what it held.
        DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0x21 100000 300000", "write -z 6M 1M", "discard 41M 64k",
            "write -P 0x22 20M 4k", "write -P 0x12 42M 64k");
        var since = era1 + 1;   // the full copy holds all of era1 (README: SINCE = the era after)
        var era2 = Take(d, "vm", since);
        Assert.True(era2 > era1);
        DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0x31 0 16M");   // after the second instant: in no copy

        var map = Run("nbdinfo", "--map=qemu:dirty-bitmap:since-" + since, BackupUri(d, "vm"));
        Assert.True(map.ExitCode == 0 && map.StdOut.Contains(" dirty") && map.StdOut.Contains(" clean"), map.ToString());
        var fullOfSecond = dir.File("second.img");
        Assert.Equal(0, Run("nbdcopy", BackupUri(d, "vm"), fullOfSecond).ExitCode);
        Assert.NotEqual(0, Run("cmp", "-s", full, fullOfSecond).ExitCode);   // the incremental has work to do

        // The wrong image (another size) is refused and left as it was.
        var wrong = dir.File("wrong.img");
        File.WriteAllBytes(wrong, [1, 2, 3]);
        var refused = Run("/usr/bin/python3", RepoFile("docs/apply-dirty.py"), BackupUri(d, "vm"), "qemu:dirty-bitmap:since-" + since, wrong);
        Assert.True(refused.ExitCode == 1 && refused.StdErr.Contains("it is not a copy of this volume"), refused.ToString());
        Assert.Equal(3, new FileInfo(wrong).Length);

        var apply = Run("/usr/bin/python3", RepoFile("docs/apply-dirty.py"), BackupUri(d, "vm"), "qemu:dirty-bitmap:since-" + since, full);
        Assert.True(apply.ExitCode == 0 && apply.StdOut.StartsWith("copied "), apply.ToString());
        Drop(d, "vm");
        var same = Run("cmp", full, fullOfSecond);
        Assert.True(same.ExitCode == 0, same.ToString());
    }

    [Fact]
    public async Task Backup_tools_read_the_views_bitmap_and_allocation_unchanged()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "vm"));
        DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0x11 0 1M");
        var since = uint.Parse(d.Admin("message", "vm", "checkpoint").StdOut.Trim()["era ".Length..]);
        DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0x22 2M 128k");
        var era = Take(d, "vm", since);
        DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0x33 4M 64k", "write -P 0x34 0 64k");   // after the instant
        var bitmap = $"qemu:dirty-bitmap:since-{since}";

        var labels = Run("nbdinfo", $"--map={bitmap}", BackupUri(d, "vm"));
        Assert.True(labels.ExitCode == 0, labels.ToString());
        Assert.Equal(["0 2097152 0 clean", "2097152 131072 1 dirty", "2228224 64880640 0 clean"],
            labels.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => Regex.Replace(l.Trim(), @"\s+", " ")));
        var allocation = Run("nbdinfo", "--map", BackupUri(d, "vm"));
        Assert.Equal(["0 1048576 0 data", "1048576 1048576 3 hole,zero", "2097152 131072 0 data", "2228224 1966080 3 hole,zero",
                      "4194304 65536 0 data", "4259840 62849024 3 hole,zero"],
            allocation.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => Regex.Replace(l.Trim(), @"\s+", " ")));   // 4M: written after, a hole at the instant, reported data (erring toward data)
        var eras = Run("nbdinfo", "--map=x-dm-era:era", BackupUri(d, "vm"));
        Assert.StartsWith($"0 1048576 {since - 1}", Regex.Replace(eras.StdOut.Trim(), @"\s+", " "));
        Assert.Contains($"2097152 131072 {era}", Regex.Replace(eras.StdOut, @"[ \t]+", " "));

        // qemu's client SETs exactly the bitmap and reads dirty as "data": false (the x-dirty-bitmap hack inverts it).
        var qemu = Run("qemu-img", "map", "--output=json", "--image-opts",
            $"driver=nbd,server.type=unix,server.path={d.NbdSocket},export=vm@backup,x-dirty-bitmap={bitmap}");
        Assert.True(qemu.ExitCode == 0, qemu.ToString());
        var extents = JsonDocument.Parse(qemu.StdOut).RootElement.EnumerateArray()
            .Select(e => (e.GetProperty("start").GetInt64(), e.GetProperty("length").GetInt64(), e.GetProperty("data").GetBoolean())).ToList();
        Assert.Equal([(0L, 2097152L, true), (2097152L, 131072L, false), (2228224L, 64880640L, true)], extents);

        // ovirt-imageio's discovery: LIST "qemu:dirty-bitmap:" must give exactly one name; SET of the three it asks
        // for gives back only names it asked for; dirty extents merge with base:allocation over the whole request.
        var ovirt = Python(dir, """
            import nbd, sys
            uri, expected = sys.argv[1:3]
            h = nbd.NBD()
            h.set_opt_mode(True)
            h.connect_uri(uri)
            h.add_meta_context("qemu:dirty-bitmap:")
            found = []
            h.opt_list_meta_context(lambda name: found.append(name))
            assert found == [expected], found
            everything = []
            h.clear_meta_contexts()
            h.opt_list_meta_context(lambda name: everything.append(name))
            assert set(everything) >= {"base:allocation", "x-dm-era:era", expected}, everything
            h.clear_meta_contexts()
            for c in ("base:allocation", "qemu:allocation-depth", expected):
                h.add_meta_context(c)
            h.opt_go()
            assert h.can_meta_context("base:allocation") and h.can_meta_context(expected)
            assert not h.can_meta_context("qemu:allocation-depth")
            seen = {}
            size = h.get_size()
            h.block_status(size, 0, lambda ctx, off, ents, err: seen.__setitem__(ctx, list(zip(ents[0::2], ents[1::2]))))
            assert set(seen) == {"base:allocation", expected}, seen
            for ctx, extents in seen.items():
                assert sum(l for l, _ in extents) == size and all(l % 512 == 0 and l > 0 for l, _ in extents), (ctx, extents)
            dirty = [(o, l) for (o, (l, f)) in zip([sum(l for l, _ in seen[expected][:i]) for i in range(len(seen[expected]))], seen[expected]) if f & 1]
            assert dirty == [(2 << 20, 128 << 10)], dirty
            try:
                h.pwrite(b"x" * 512, 0)
                raise AssertionError("a write to the view succeeded")
            except nbd.Error:
                pass
            h.shutdown()
            print("OK")
            """, BackupUri(d, "vm"), bitmap);
        Assert.True(ovirt.ExitCode == 0 && ovirt.StdOut.Contains("OK"), ovirt.ToString());

        // A view taken without SINCE offers no bitmap, and the live export none either.
        Drop(d, "vm");
        Take(d, "vm");
        var none = Python(dir, """
            import nbd, sys
            for uri in sys.argv[1:]:
                h = nbd.NBD()
                h.set_opt_mode(True)
                h.connect_uri(uri)
                h.add_meta_context("qemu:dirty-bitmap:")
                found = []
                h.opt_list_meta_context(lambda name: found.append(name))
                assert found == [], (uri, found)
                h.opt_abort()
            print("OK")
            """, BackupUri(d, "vm"), d.Uri("vm"));
        Assert.True(none.ExitCode == 0 && none.StdOut.Contains("OK"), none.ToString());
    }

    [Fact]
    public async Task A_full_saved_copy_breaks_the_view_and_the_volume_writes_on()
    {
        using var dir = new TempDir();
        var store = dir.File("elsewhere/vm.saved");
        Directory.CreateDirectory(dir.File("elsewhere"));
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "vm", extra: $",backup-limit={2 * BlockBytes},backup-store={store}"));
        DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0x11 0 4M");
        Take(d, "vm");
        Assert.Equal(store, View(d, "vm").GetProperty("store_path").GetString());
        Assert.True(File.Exists(store));
        DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0x22 0 1M");   // 16 blocks into room for 2: the writes still succeed
        DaemonEndToEndTests.QemuIo(d, "vm", "read -P 0x22 0 1M", "read -P 0x11 1M 3M");

        var view = View(d, "vm");
        Assert.StartsWith("saved-copy store full", view.GetProperty("broken").GetString());
        Assert.Equal(2 * BlockBytes, view.GetProperty("limit_bytes").GetInt64());
        var read = Run("qemu-io", "-f", "raw", "-r", "-c", "read 2M 64k", BackupUri(d, "vm"));
        Assert.Contains("Input/output error", read.StdOut + read.StdErr);
        Assert.Contains("backup view broken: saved-copy store full", d.Log);
        Assert.Equal("8 ", d.Admin("status", "vm").StdOut[..2]);   // the status line stays the kernel's

        Drop(d, "vm");
        Assert.False(File.Exists(store));
        Take(d, "vm");   // the next backup starts afresh
        DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0x33 2M 64k");
        var again = Run("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x11 2M 64k", BackupUri(d, "vm"));
        Assert.True(again.ExitCode == 0 && !again.StdOut.Contains("fail"), again.ToString());
    }

    [Fact]
    public async Task The_saved_copy_path_and_limit_are_set_per_volume_in_akka_hocon()
    {
        using var dir = new TempDir();
        DaemonEndToEndTests.Volume(dir, "cfg");
        var hocon = dir.File("my.hocon");
        File.WriteAllText(hocon, $$"""
            dmera.daemon {
              volumes = [ { name = cfg, origin = "{{dir.File("cfg.origin")}}", metadata = "{{dir.File("cfg.meta")}}", block-size = 128,
                            backup-store = "{{dir.File("cfg.saved")}}", backup-limit = 1048576 } ]
              listen = []
            }
            """);
        await using var d = await DaemonProcess.StartAsync(dir, "--config", hocon);
        Take(d, "cfg");
        var view = View(d, "cfg");
        Assert.Equal(dir.File("cfg.saved"), view.GetProperty("store_path").GetString());
        Assert.Equal(1048576, view.GetProperty("limit_bytes").GetInt64());
        DaemonEndToEndTests.QemuIo(d, "cfg", "write 0 128k");
        Assert.Equal(2 * BlockBytes, View(d, "cfg").GetProperty("saved_bytes").GetInt64());
        Assert.Equal(4096 + 2 * BlockBytes, new FileInfo(dir.File("cfg.saved")).Length);
    }

    [Fact]
    public async Task A_group_drops_its_views_as_it_took_them_and_names_each_volume_that_had_none()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "a"), "--volume", Volume(dir, "b"));
        Assert.Equal(0, d.Admin("message", "--group", "a,b", "take_backup_snap").ExitCode);
        var drop = d.Admin("message", "--group", "a,b", "drop_backup_snap");
        Assert.True(drop.ExitCode == 0, drop.ToString());
        Assert.Equal(["a dropped", "b dropped"], drop.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(JsonValueKind.Null, View(d, "a").ValueKind);
        Assert.Equal(JsonValueKind.Null, View(d, "b").ValueKind);

        Take(d, "b");
        var again = d.Admin("message", "--group", "a,b", "drop_backup_snap");
        Assert.Equal(1, again.ExitCode);
        Assert.Equal("a: no backup view to drop", again.StdErr.Trim());
        Assert.Equal(JsonValueKind.Null, View(d, "b").ValueKind);    // every volume is tried
    }

    [Fact]
    public async Task The_views_base_allocation_splits_a_hole_only_at_blocks_saved_since_the_instant_across_bitmap_words()
    {
        using var dir = new TempDir();
        const long block = 64 << 10, blocks = 16384;
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "a", blocks * block));
        Take(d, "a");
        // Overwritten after the instant, then zeroed: saved (data, maybe, at the instant) whatever the origin holds now.
        long[] saved = [63, 64, 5000];
        BackupVolume.WriteBlocks(d.Uri("a"), new byte[blocks * block], saved, 1);
        using (var live = NbdConnection.Open(d.Uri("a"), []))
            foreach (var b in saved) live.Zero(b * block, block);
        using var nbd = NbdConnection.Open(BackupUri(d, "a"), ["base:allocation"]);
        var extents = nbd.BlockStatus(0, blocks * block)["base:allocation"].Select(e => (e.Length, e.Flags)).ToList();
        Assert.Equal([(63 * block, 3u), (2 * block, 0u), ((5000 - 65) * block, 3u), (block, 0u), ((blocks - 5001) * block, 3u)], extents);
        Drop(d, "a");
    }

    [Fact]
    public async Task Refusals_are_one_line_and_change_nothing()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "a"), "--volume", Volume(dir, "b"));
        var era = uint.Parse(d.Admin("message", "a", "checkpoint").StdOut.Trim()["era ".Length..]);
        void Refused(string expected, params string[] args)
        {
            var r = d.Admin(args);
            Assert.True(r.ExitCode == 1 && r.StdErr.Trim() == expected, $"{string.Join(' ', args)}: {r}");
        }
        Refused("no backup view to drop", "message", "a", "drop_backup_snap");
        Refused($"since era {era + 1} is after the current era {era}", "message", "a", "take_backup_snap", (era + 1).ToString());
        Refused("usage: take_backup_snap [SINCE_ERA]", "message", "a", "take_backup_snap", "x");
        Take(d, "a");
        Refused("backup view already exists", "message", "a", "take_backup_snap");
        Refused("metadata snapshot already exists", "message", "a", "take_metadata_snap");
        Refused("the metadata snapshot belongs to the backup view: use drop_backup_snap", "message", "a", "drop_metadata_snap");
        var group = d.Admin("message", "--group", "a,b", "take_backup_snap");
        Assert.True(group.ExitCode == 1 && group.StdErr.Contains("no view kept: backup view already exists"), group.ToString());
        Assert.Equal(JsonValueKind.Null, View(d, "b").ValueKind);   // all or none
        Drop(d, "a");

        var both = d.Admin("message", "--group", "a,b", "take_backup_snap", "1");
        Assert.True(both.ExitCode == 0, both.ToString());
        var lines = both.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^a era \d+ export a@backup bitmap qemu:dirty-bitmap:since-1$", lines[0]);
        Assert.Matches(@"^b era \d+ export b@backup bitmap qemu:dirty-bitmap:since-1$", lines[1]);
        var list = Run("nbdinfo", "--list", $"nbd+unix:///?socket={d.NbdSocket}");
        Assert.Contains("export=\"a@backup\"", list.StdOut);
        Assert.Contains("export=\"b@backup\"", list.StdOut);
        Drop(d, "a");
        Drop(d, "b");
        list = Run("nbdinfo", "--list", $"nbd+unix:///?socket={d.NbdSocket}");
        Assert.DoesNotContain("@backup", list.StdOut);
        Assert.Equal(1, DaemonProcess.RunToExit(dir, "--volume", "name=x@y,origin=o,metadata=m").ExitCode);
    }

    [Fact]
    public async Task A_view_held_at_a_restart_is_gone_cleanly_and_the_volume_is_intact()
    {
        using var dir = new TempDir();
        var volume = Volume(dir, "vm");
        uint era;
        await using (var d = await DaemonProcess.StartAsync(dir, "--volume", volume))
        {
            DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0x11 0 1M");
            era = Take(d, "vm");
            DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0x22 0 64k");
            Assert.True(File.Exists(dir.File("vm.meta.backup")));
            Assert.Equal(0, await d.StopAsync());
        }
        Assert.True(File.Exists(dir.File("vm.meta.backup")));   // the stop leaves it: the start cleans up
        await using (var d = await DaemonProcess.StartAsync(dir, "--volume", volume))
        {
            Assert.Contains("a backup view was held when the volume last stopped: it is gone", d.Log);
            Assert.False(File.Exists(dir.File("vm.meta.backup")));
            Assert.EndsWith(" -", d.Admin("status", "vm").StdOut.Trim());
            Assert.Equal(1, Run("qemu-io", "-f", "raw", "-r", "-c", "read 0 512", BackupUri(d, "vm")).ExitCode);
            DaemonEndToEndTests.QemuIo(d, "vm", "read -P 0x22 0 64k", "read -P 0x11 64k 960k");
            var since = Run("nbdinfo", $"--map=x-dm-era:written-since:{era + 1}", d.Uri("vm"));
            Assert.StartsWith("0 65536 1", Regex.Replace(since.StdOut.Trim(), @"\s+", " "));
            Take(d, "vm");
        }
    }
}
