using System.Text.Json;
using DmEra.Tests.Tools;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Daemon;

/// <summary>
/// Bulk reads of <c>VOLUME@backup</c> while the live volume is written: the real daemon, read by libnbd and
/// nbdcopy. They were sent from the origin file (sendfile) until the first test below showed a write landing
/// after the send changes the bytes the reader gets; they are copied now.
/// </summary>
public sealed class BackupViewSendFileTests
{
    private static ProcessResult Python(TempDir dir, string script, params string[] args)
    {
        var path = dir.File($"script-{Guid.NewGuid():N}.py");
        File.WriteAllText(path, script);
        return Run("/usr/bin/python3", [path, .. args]);
    }

    private static JsonElement View(DaemonProcess d)
    {
        var r = d.Admin("status", "vm", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        return JsonDocument.Parse(r.StdOut).RootElement.GetProperty("view");
    }

    private static void Take(DaemonProcess d)
    {
        var r = d.Admin("message", "vm", "take_backup_snap");
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [Fact]
    public async Task A_view_reader_that_stops_reading_cannot_hold_a_write_and_still_gets_the_instant()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "vm"));
        DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0xaa 0 64M");
        Take(d);
        // A 16 MiB read of the view that the client does not read back: the server's send fills the socket and
        // waits. The view's reads are copied, so the send holds nothing of the origin: a write into that range
        // completes at once, and the reader, read at last, gets the old contents there.
        var r = Python(dir, """
            import nbd, sys, time, threading, os
            backup, live = sys.argv[1:3]
            b = nbd.NBD(); b.connect_uri(backup)
            time.sleep(0.2)                        # the live volume idle, so the view's reads are not paced
            buf = nbd.Buffer(16 << 20)
            cookie = b.aio_pread(buf, 0)
            time.sleep(0.5)
            done = {}
            def write():
                h = nbd.NBD(); h.connect_uri(live)
                t = time.monotonic(); h.pwrite(b"\xbb" * 4096, 12 << 20); done["s"] = time.monotonic() - t
            w = threading.Thread(target=write, daemon=True); w.start(); w.join(30)
            if w.is_alive():
                print("FAIL: the write waited 30 s for a reader that does not read"); sys.stdout.flush(); os._exit(1)
            while not b.aio_command_completed(cookie):
                b.poll(-1)
            data = buf.to_bytearray()
            assert data == b"\xaa" * (16 << 20), "the view's bytes are not the instant's"
            print("OK", done["s"])
            """, d.Uri("vm@backup"), d.Uri("vm"));
        Assert.True(r.ExitCode == 0 && r.StdOut.StartsWith("OK"), r.ToString());
        DaemonEndToEndTests.QemuIo(d, "vm", "read -P 0xbb 12M 4k");   // the write is on the volume
    }

    [Fact]
    public async Task A_write_after_a_view_read_was_handed_to_the_socket_does_not_change_the_bytes_the_reader_gets()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", DaemonEndToEndTests.Volume(dir, "vm"));
        DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0xaa 0 64M");
        Take(d);
        // A 16 MiB read of the view that the client does not read back yet, then a write into its first 4 KiB,
        // which the server has already handed to the socket. sendfile hands over references to the origin's
        // page-cache pages, not copies (TCP and Unix sockets alike, Linux 6.x): a page overwritten before the
        // peer reads it arrives with the new bytes. So the view's reads are copied, never sent from the origin.
        var r = Python(dir, """
            import nbd, sys, time
            backup, live = sys.argv[1:3]
            b = nbd.NBD(); b.connect_uri(backup)
            time.sleep(0.2)                        # the live volume idle, so the view's reads are not paced
            buf = nbd.Buffer(16 << 20)
            cookie = b.aio_pread(buf, 0)
            time.sleep(0.5)
            h = nbd.NBD(); h.connect_uri(live)
            h.pwrite(b"\xbb" * 4096, 0)
            h.flush()                              # on the origin (written back otherwise) before the reader reads
            while not b.aio_command_completed(cookie):
                b.poll(-1)
            data = buf.to_bytearray()
            bad = next((k for k in range(0, 16 << 20, 4096) if data[k:k + 4096] != b"\xaa" * 4096), None)
            assert bad is None, f"the 4 KiB at {bad} are not the instant's"
            print("OK")
            """, d.Uri("vm@backup"), d.Uri("vm"));
        Assert.True(r.ExitCode == 0 && r.StdOut.StartsWith("OK"), r.ToString());
        DaemonEndToEndTests.QemuIo(d, "vm", "read -P 0xbb 0 4k");   // the write is on the volume
    }

    [Fact]
    public async Task Copies_of_the_view_hold_the_instant_while_a_QD16_writer_runs()
    {
        using var dir = new TempDir();
        // Pacing off, so the view's bulk reads run at full speed while the writer runs.
        var hocon = dir.File("unpaced.hocon");
        File.WriteAllText(hocon, "dmera.engine.view-read-share = 1\ndmera.daemon { listen = [] }\n");
        await using var d = await DaemonProcess.StartAsync(dir, "--config", hocon, "--volume",
            DaemonEndToEndTests.Volume(dir, "vm") + $",backup-limit={64 << 20}");
        DaemonEndToEndTests.QemuIo(d, "vm", "write -P 0xaa 0 64M");
        Take(d);
        // The writer rewrites random 4 KiB slots of the first half at QD16, the second half is never written; three
        // nbdcopy passes of the view run meanwhile, each compared with the instant.
        var r = Python(dir, """
            import nbd, sys, subprocess, threading, random
            live, backup, out = sys.argv[1:4]
            SIZE, W = 64 << 20, 4096
            stop, count = threading.Event(), [0]
            def writer():
                h = nbd.NBD(); h.connect_uri(live)
                rnd = random.Random(3); data = nbd.Buffer.from_bytearray(bytearray(b"\xbb" * W))
                while not stop.is_set():
                    while h.aio_in_flight() >= 16:
                        h.poll(-1)
                    h.aio_pwrite(data, rnd.randrange(SIZE // 2 // W) * W); count[0] += 1
                while h.aio_in_flight() > 0:
                    h.poll(-1)
            t = threading.Thread(target=writer); t.start()
            try:
                for i in range(3):
                    c = subprocess.run(["nbdcopy", backup, out], capture_output=True, text=True, timeout=120)
                    assert c.returncode == 0, c.stderr
                    with open(out, "rb") as f:
                        got = f.read()
                    bad = next((k for k in range(0, SIZE, W) if got[k:k + W] != b"\xaa" * W), None)
                    assert bad is None, f"pass {i}: the 4 KiB at {bad} are not the instant's"
            finally:
                stop.set(); t.join(60)
            assert count[0] > 0
            print("OK", count[0])
            """, d.Uri("vm"), d.Uri("vm@backup"), dir.File("copy.raw"));
        Assert.True(r.ExitCode == 0 && r.StdOut.StartsWith("OK"), r.ToString());
        var view = View(d);
        Assert.Equal(JsonValueKind.Null, view.GetProperty("broken").ValueKind);
    }
}
