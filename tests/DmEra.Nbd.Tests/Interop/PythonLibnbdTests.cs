#nullable enable
using DmEra.Nbd.Exports;
using DmEra.Nbd.Tests.Support;
using Xunit;

namespace DmEra.Nbd.Tests.Interop;

/// <summary>python3-libnbd scripts: pipelining, relaxed strict mode, option-mode negotiation.</summary>
public sealed class PythonLibnbdTests
{
    private static async Task RunScript(string script, params string[] args)
    {
        var r = await ProcessRunner.PythonAsync(script, TimeSpan.FromSeconds(60), args);
        Assert.True(r.ExitCode == 0 && r.Stdout.Contains("OK"), r.Describe("python3 libnbd script"));
    }

    [Fact]
    public async Task Pipelined_aio_requests_complete_and_read_back_what_was_written()
    {
        await using var server = new InteropServer();
        server.AddFileExport("disk", 16 << 20);
        await RunScript("""
            import nbd, sys
            h = nbd.NBD()
            h.connect_uri(sys.argv[1])
            assert h.get_structured_replies_negotiated()
            assert h.can_multi_conn() and h.can_fua() and h.can_flush() and h.can_trim() and h.can_zero() and h.can_fast_zero() and h.can_cache() and h.can_df()
            bufs = []
            for i in range(200):
                b = nbd.Buffer.from_bytearray(bytearray([i % 251 + 1]) * (4096 + i))
                bufs.append(b)
                h.aio_pwrite(b, i * 65536, flags=(nbd.CMD_FLAG_FUA if i % 7 == 0 else 0))
            assert h.aio_in_flight() > 1
            while h.aio_in_flight() > 0:
                h.poll(-1)
            h.flush()
            reads = []
            for i in range(200):
                b = nbd.Buffer(4096 + i)
                reads.append((i, b, h.aio_pread(b, i * 65536)))
            while h.aio_in_flight() > 0:
                h.poll(-1)
            for i, b, cookie in reads:
                assert h.aio_command_completed(cookie)
                assert b.to_bytearray() == bytearray([i % 251 + 1]) * (4096 + i), i
            h.zero(65536, 0, nbd.CMD_FLAG_NO_HOLE)
            assert h.pread(65536, 0) == bytes(65536)
            h.zero(65536, 65536, nbd.CMD_FLAG_FAST_ZERO)
            h.trim(65536, 131072)
            h.cache(65536, 196608)
            h.shutdown()
            print("OK")
            """, server.TcpUri("disk"));
    }

    [Fact]
    public async Task Out_of_range_unaligned_and_zero_length_requests_get_the_documented_answers()
    {
        await using var server = new InteropServer();
        server.Catalog.Add("mem", new MemoryExport(1 << 20));
        server.Catalog.Add("ro", new MemoryExport(1 << 20, readOnly: true));
        await RunScript("""
            import nbd, sys, errno
            def expect(err, f):
                try:
                    f()
                except nbd.Error as e:
                    # python3-libnbd 1.14 reports the errno by name.
                    assert e.errno in (err, errno.errorcode[err]), (e.errno, e.string)
                    return
                raise AssertionError("no error, expected %d" % err)
            h = nbd.NBD()
            h.set_strict_mode(0)
            h.connect_uri(sys.argv[1])
            size = h.get_size()
            expect(errno.EINVAL, lambda: h.pread(512, size))
            expect(errno.EINVAL, lambda: h.pread(1024, size - 512))
            expect(errno.ENOSPC, lambda: h.pwrite(b"x" * 1024, size - 512))
            expect(errno.ENOSPC, lambda: h.zero(1024, size - 512))
            expect(errno.EINVAL, lambda: h.trim(1024, size - 512))
            expect(errno.EINVAL, lambda: h.pread(64 << 20, 0))
            expect(errno.EINVAL, lambda: h.pread(512, 0, 0x80))
            # Unaligned single bytes work: the minimum block size is 1.
            h.pwrite(b"abc", 4093)
            assert h.pread(7, 4091) == b"\0\0abc\0\0"
            # Zero-length requests are successful no-ops.
            assert h.pread(0, 0) == b""
            h.pwrite(b"", 0)
            # The connection is still fine after all of that.
            assert h.pread(3, 4093) == b"abc"
            h.shutdown()
            r = nbd.NBD()
            r.set_strict_mode(0)
            r.connect_uri(sys.argv[2])
            assert r.is_read_only()
            expect(errno.EPERM, lambda: r.pwrite(b"x", 0))
            print("OK")
            """, server.TcpUri("mem"), server.UnixUri("ro"));
    }

    [Fact]
    public async Task Option_mode_lists_exports_and_meta_contexts_and_rejects_unknown_names()
    {
        await using var server = new InteropServer();
        server.Catalog.Add("vol", new SyntheticEraExport(1 << 20, 65536, b => (uint)b));
        server.Catalog.Add("plain", new MemoryExport(4096));
        await RunScript("""
            import nbd, sys, errno
            h = nbd.NBD()
            h.set_opt_mode(True)
            h.connect_uri(sys.argv[1])
            exports = []
            h.opt_list(lambda name, desc: exports.append(name))
            assert sorted(exports) == ["plain", "vol"], exports
            h.set_export_name("vol")
            contexts = []
            h.opt_list_meta_context(lambda name: contexts.append(name))
            assert "base:allocation" in contexts and "x-dm-era:era" in contexts, contexts
            h.add_meta_context("x-dm-era:")
            only = []
            h.opt_list_meta_context(lambda name: only.append(name))
            assert all(c.startswith("x-dm-era:") for c in only) and "x-dm-era:era" in only, only
            h.clear_meta_contexts()
            h.set_export_name("no-such-export")
            try:
                h.opt_info()
                raise AssertionError("opt_info of an unknown export succeeded")
            except nbd.Error as e:
                assert e.errno in (errno.ENOENT, "ENOENT"), e.errno
            h.set_export_name("vol")
            h.add_meta_context("x-dm-era:written-since:3")
            h.add_meta_context("base:allocation")
            h.add_meta_context("x-unknown:thing")
            h.opt_go()
            assert h.can_meta_context("x-dm-era:written-since:3")
            assert h.can_meta_context("base:allocation")
            assert not h.can_meta_context("x-unknown:thing")
            seen = {}
            def cb(ctx, off, ents, err):
                seen[ctx] = list(zip(ents[0::2], ents[1::2]))
            h.block_status(1 << 20, 0, cb)
            assert seen["x-dm-era:written-since:3"] == [(3 * 65536, 0), (13 * 65536, 1)], seen
            assert seen["base:allocation"] == [(1 << 20, 3)], seen
            one = {}
            h.block_status(100000, 65536, lambda ctx, off, ents, err: one.__setitem__(ctx, list(ents)), nbd.CMD_FLAG_REQ_ONE)
            assert one["x-dm-era:written-since:3"] == [100000, 0], one
            assert one["base:allocation"] == [100000, 3], one
            h.shutdown()
            print("OK")
            """, server.TcpUri("vol"));
    }

    [Fact]
    public async Task A_flush_on_one_connection_is_answered_while_writes_arrive_on_others()
    {
        await using var server = new InteropServer();
        server.AddFileExport("disk", 8 << 20);
        // Multi-conn contract test (nbdkit-multi-conn-filter.pod): write reply on A, flush on B, read on C sees it.
        await RunScript("""
            import nbd, sys
            a, b, c = nbd.NBD(), nbd.NBD(), nbd.NBD()
            for h in (a, b, c):
                h.connect_uri(sys.argv[1])
                assert h.can_multi_conn()
            a.pwrite(b"\x5a" * 4096, 8192)
            b.flush()
            assert c.pread(4096, 8192) == b"\x5a" * 4096
            for h in (a, b, c):
                h.shutdown()
            print("OK")
            """, server.UnixUri("disk"));
    }
}
