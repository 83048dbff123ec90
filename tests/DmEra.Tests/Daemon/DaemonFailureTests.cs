using System.Text.Json;
using DmEra.Tests.Tools;
using static DmEra.Tests.Daemon.DaemonEndToEndTests;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Daemon;

/// <summary>
/// Real faults under the real daemon (issue 15 items 4, 5, 10): `chattr +i` makes every later write to an
/// open file fail with EPERM (the metadata's commits), and a loop device over such a file makes the
/// origin's fdatasync fail with EIO once, then succeed again with the data gone, as Linux does.
/// </summary>
public sealed class DaemonFailureTests
{
    private static void Immutable(string path, bool on)
    {
        var r = Run("chattr", on ? "+i" : "-i", path);
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private static string Json(DaemonProcess d, string volume, string property)
    {
        using var status = JsonDocument.Parse(d.Admin("status", "--json", volume).StdOut);
        return status.RootElement.GetProperty(property).ToString();
    }

    /// <summary>Runs two libnbd calls on one connection; says "ok" or "failed" for each.</summary>
    private static string Libnbd(DaemonProcess d, string first, string second)
    {
        var r = Run("/usr/bin/python3", "-c", $$"""
            import nbd, sys
            h = nbd.NBD()
            h.connect_uri(sys.argv[1])
            def attempt(call):
                try:
                    call()
                    return "ok"
                except nbd.Error:
                    return "failed"
            a = attempt(lambda: {{first}})
            b = attempt(lambda: {{second}})
            print(f"{'write' if 'pwrite' in sys.argv[2] else 'flush'} {a}, {'fua write' if 'pwrite' in sys.argv[3] else 'flush'} {b}")
            """, d.Uri("v"), first, second);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.StdOut.Trim();
    }

    [Fact]
    public async Task A_failed_last_commit_at_sigterm_makes_serve_exit_non_zero_naming_the_volume()
    {
        using var dir = new TempDir();
        var meta = dir.File("v.meta");
        var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "v"));
        try
        {
            QemuIo(d, "v", "write 0 64k");
            Immutable(meta, true);
            var exit = await d.StopAsync();
            Assert.True(exit != 0, d.Log);
            Assert.Contains("dmera serve: volume v: the final metadata commit failed", d.Log);
        }
        finally
        {
            Immutable(meta, false);
            await d.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_failed_volume_logs_its_cause_once_then_counts_the_refused_writes()
    {
        using var dir = new TempDir();
        var meta = dir.File("v.meta");
        var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "v"));
        try
        {
            QemuIo(d, "v", "write 0 4k");
            // The intent log too: with it alone writable, first writes stay durable (and accepted) until the
            // background metadata commit fails the volume, a second later.
            Immutable(meta, true);
            Immutable(meta + ".log", true);
            var args = new List<string> { "-f", "raw" };
            for (var i = 1; i <= 40; i++) args.AddRange(["-c", $"write {i * 65536} 4k"]);
            args.Add(d.Uri("v"));
            var writes = Run("qemu-io", [.. args]);
            Assert.Contains("write failed", writes.StdOut + writes.StdErr);
            Assert.Equal("Fail", d.Admin("status", "v").StdOut.Trim());
            Assert.True(long.Parse(Json(d, "v", "refused_writes")) >= 40, d.Admin("status", "--json", "v").StdOut);
            Assert.Equal(0, await d.StopAsync());
            var log = d.Log;
            Assert.Single(log.Split('\n'), l => l.Contains("volume v refuses writes:"));
            // The metadata writer's one report of the failure may carry its cause's stack trace; no refused
            // write adds one (each used to log "NBD export 'v' failed Write" with a trace).
            Assert.DoesNotContain("NBD export 'v' failed", log);
            Assert.True(log.Split('\n').Count(l => l.Contains("Cause:")) <= 1, log);
            Assert.Matches(@"volume v: \d+ writes refused in all", log);
        }
        finally
        {
            Immutable(meta, false);
            Immutable(meta + ".log", false);
            await d.DisposeAsync();
        }
    }

    [Fact]
    public async Task After_an_origin_fdatasync_error_every_later_flush_and_fua_write_fails_until_restart_and_status_says_why()
    {
        using var dir = new TempDir();
        var backing = dir.File("origin.img");
        using (var f = File.Create(backing)) f.SetLength(16L << 20);
        using var loop = LoopDevice.Attach(backing);
        using (var f = File.Create(dir.File("v.meta"))) f.SetLength(8L << 20);
        var d = await DaemonProcess.StartAsync(dir, "--volume", $"name=v,origin={loop.Path},metadata={dir.File("v.meta")},block-size=128");
        try
        {
            QemuIo(d, "v", "write -P 0x11 0 64k");   // qemu-io writes through (FUA): durable
            Immutable(backing, true);
            Assert.Equal("write ok, flush failed", Libnbd(d, "h.pwrite(b'\\x22' * 65536, 0)", "h.flush()"));
            Immutable(backing, false);

            // Linux now reports the next fdatasync as a success, the 0x22 write gone: the volume must not.
            Assert.Equal("flush failed, fua write failed", Libnbd(d, "h.flush()", "h.pwrite(b'\\x33' * 4096, 131072, nbd.CMD_FLAG_FUA)"));
            Assert.Contains("origin fdatasync failed", Json(d, "v", "origin_sync_error"));
            Assert.Contains("every FLUSH and FUA write fails until the volume is restarted", d.Admin("status", "v").StdOut);
            Assert.Single(d.Log.Split('\n'), l => l.Contains("volume v refuses flushes:"));

            Assert.NotEqual(0, await d.StopAsync());   // its last origin flush is refused too, and said
            Assert.Contains("dmera serve: volume v: origin fdatasync failed", d.Log);
        }
        finally
        {
            Immutable(backing, false);
            await d.DisposeAsync();
        }
    }

    [Fact]
    public async Task Nbd_cache_is_offered_and_reads_the_range_into_the_page_cache()
    {
        using var dir = new TempDir();
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "v", 8L << 20));
        QemuIo(d, "v", "write -P 0x5a 1M 64k");
        var r = Run("/usr/bin/python3", "-c", """
            import ctypes, os, sys, time, nbd
            uri, origin = sys.argv[1], sys.argv[2]
            libc = ctypes.CDLL(None, use_errno=True)
            libc.mmap.restype = ctypes.c_void_p
            libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
            libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
            fd = os.open(origin, os.O_RDONLY)
            def resident(offset, length):
                a = libc.mmap(None, length, 1, 1, fd, offset)   # PROT_READ, MAP_SHARED
                vec = ctypes.create_string_buffer(length // 4096)
                assert libc.mincore(a, length, vec) == 0, ctypes.get_errno()
                libc.munmap(a, length)
                return sum(b & 1 for b in vec.raw)
            os.posix_fadvise(fd, 1 << 20, 65536, os.POSIX_FADV_DONTNEED)
            before = resident(1 << 20, 65536)
            h = nbd.NBD()
            h.connect_uri(uri)
            assert h.can_cache(), "CACHE not offered"
            h.cache(65536, 1 << 20)
            # The hint starts the reads; mincore counts a page once its read has completed (milliseconds).
            deadline = time.monotonic() + 10
            while resident(1 << 20, 65536) < 16 and time.monotonic() < deadline:
                time.sleep(0.01)
            after = resident(1 << 20, 65536)
            assert after == 16, (before, after)
            assert h.pread(4096, 1 << 20) == b"\x5a" * 4096
            h.shutdown()
            print("OK", before, after)
            """, d.Uri("v"), dir.File("v.origin"));
        Assert.True(r.ExitCode == 0 && r.StdOut.StartsWith("OK"), r.ToString());
    }
}

/// <summary>A loop device over a file (root), detached at dispose.</summary>
internal sealed class LoopDevice : IDisposable
{
    private LoopDevice(string path) => Path = path;

    public string Path { get; }

    public static LoopDevice Attach(string file)
    {
        var r = Run("losetup", "-f", "--show", file);
        Assert.True(r.ExitCode == 0, r.ToString());
        return new LoopDevice(r.StdOut.Trim());
    }

    public void Dispose() => Run("losetup", "-d", Path);
}
