using System.Net;
using System.Net.Sockets;
using DmEra.Nbd.Exports;
using DmEra.Nbd.Tests.Support;
using Microsoft.Win32.SafeHandles;
using Xunit;

namespace DmEra.Nbd.Tests.Protocol;

/// <summary>
/// Bulk READs of a file-backed export over a plain socket go by sendfile from a leased file range
/// (<see cref="INbdFileRangeSource"/>): real clients get the same bytes and replies as by the copying path.
/// </summary>
public sealed class FileRangeSendTests
{
    private const int Granule = 64 * 1024;
    private const int Size = 24 << 20;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    /// <summary>Random bytes, except an all-zero granule at 8 MiB and a granule at 9 MiB zero only in its first 4 KiB.</summary>
    private static byte[] Contents()
    {
        var data = new byte[Size];
        new Random(18).NextBytes(data);
        data.AsSpan(8 << 20, Granule).Clear();
        data.AsSpan(9 << 20, 4096).Clear();
        return data;
    }

    private static (InteropServer Server, LeaseProbe Probe, byte[] Data) Serve(Func<string, SafeFileHandle>? open = null)
    {
        var server = new InteropServer();
        var data = Contents();
        var export = server.AddFileExport("raw", Size);
        File.WriteAllBytes(server.PathOf("raw"), data);
        var probe = new LeaseProbe(export, server.Own((open ?? (p => File.OpenHandle(p)))(server.PathOf("raw"))));
        server.Catalog.Add("disk", probe);
        return (server, probe, data);
    }

    [Fact]
    public async Task Nbdcopy_and_qemu_img_copy_a_file_export_byte_exact_by_sendfile_over_unix_and_tcp()
    {
        var (server, probe, data) = Serve();
        await using var _ = server;
        foreach (var (uri, copy) in new[] { (server.UnixUri("disk"), "unix.img"), (server.TcpUri("disk"), "tcp.img") })
        {
            string target = Path.Combine(server.Directory, copy);
            var r = await ProcessRunner.RunAsync("nbdcopy", uri, target);
            Assert.True(r.ExitCode == 0, r.Describe("nbdcopy"));
            Assert.True(data.AsSpan().SequenceEqual(File.ReadAllBytes(target)), $"nbdcopy from {uri} differs");
            File.Delete(target);
            r = await ProcessRunner.RunAsync("qemu-img", "convert", "-f", "raw", "-O", "raw", uri, target);
            Assert.True(r.ExitCode == 0, r.Describe("qemu-img convert"));
            Assert.True(data.AsSpan().SequenceEqual(File.ReadAllBytes(target)), $"qemu-img from {uri} differs");
            File.Delete(target);
        }
        Assert.True(probe.Leased > 0, "no read went by sendfile");
        Assert.Equal(0, probe.Outstanding);
    }

    [Fact]
    public async Task Libnbd_reads_at_odd_offsets_and_lengths_get_the_file_bytes_with_structured_and_simple_replies()
    {
        var (server, probe, _) = Serve();
        await using var _ = server;
        var r = await ProcessRunner.PythonAsync("""
            import nbd, sys
            path = sys.argv[3]
            with open(path, "rb") as f:
                data = f.read()
            cases = [(0, 65536), (12345, 300001), (4095, 1 << 20), (3 << 20, 8 << 20), (len(data) - 70001, 70001),
                     ((8 << 20) - 100, 262144 + 200), ((9 << 20) - 1, 262145)]
            for uri in sys.argv[1:3]:
                for structured in (True, False):
                    h = nbd.NBD()
                    h.set_request_structured_replies(structured)
                    h.connect_uri(uri)
                    assert h.get_structured_replies_negotiated() == structured
                    for off, n in cases:
                        got = h.pread(n, off)
                        assert got == data[off:off + n], (uri, structured, off, n)
                    # pipelined: many in flight at once, completed out of order
                    bufs = [(off, n, nbd.Buffer(n)) for off, n in cases * 4]
                    for off, n, b in bufs:
                        h.aio_pread(b, off)
                    while h.aio_in_flight() > 0:
                        h.poll(-1)
                    for off, n, b in bufs:
                        assert b.to_bytearray() == data[off:off + n], ("aio", uri, structured, off, n)
                    h.shutdown()
            print("OK")
            """, Limit, server.UnixUri("disk"), server.TcpUri("disk"), server.PathOf("raw"));
        Assert.True(r.ExitCode == 0 && r.Stdout.Contains("OK"), r.Describe("python3 libnbd script"));
        Assert.True(probe.Leased > 0, "no read went by sendfile");
        Assert.Equal(0, probe.Outstanding);
    }

    [Fact]
    public async Task A_structured_read_with_an_all_zero_granule_still_sends_it_as_a_hole_and_others_go_as_one_data_chunk()
    {
        var (server, probe, data) = Serve();
        await using var _ = server;
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(server.SocketPath));
        var client = new RawNbdClient(new NetworkStream(socket));
        await client.GoAsync("disk");

        const ulong holey = 8 << 20, headZero = 9 << 20, plain = 1 << 20;
        foreach (var offset in new[] { holey, headZero, plain })
        {
            int before = probe.Copied;
            await client.SendRequestAsync(0, offset, offset, 256 * 1024);
            var reply = await client.ReadReplyAsync().WaitAsync(Limit);
            Assert.Equal(0u, reply.Error);
            Assert.Equal(data.AsSpan((int)offset, 256 * 1024).ToArray(), RawNbdClient.AssembleRead(reply, offset, 256 * 1024));
            int copied = probe.Copied - before;
            if (offset == holey)
            {
                Assert.Contains(reply.Chunks, c => c.Type == 2);   // OFFSET_HOLE, as the copying path sends it
                Assert.Equal(1, copied);
            }
            else
            {
                Assert.Equal(1, Assert.Single(reply.Chunks).Type);   // one OFFSET_DATA chunk
                Assert.Equal(offset == plain ? 0 : 1, copied);       // a zero sample is no proof of a hole: copied
            }
        }
        Assert.Equal(0, probe.Outstanding);
    }

    [Fact]
    public async Task A_recalled_lease_is_given_back_while_the_client_reads_nothing_and_the_replies_still_arrive_whole()
    {
        var (server, probe, data) = Serve();
        await using var _ = server;
        using var tcp = new TcpClient { ReceiveBufferSize = 64 * 1024 };
        await tcp.ConnectAsync(server.Endpoint);
        var client = new RawNbdClient(tcp.GetStream());
        await client.GoAsync("disk", structured: false);
        // 16 MiB of replies asked for and none read: a sendfile blocks once both socket buffers are full.
        for (int i = 0; i < 16; i++) await client.SendRequestAsync(0, (ulong)i, (ulong)i << 20, 1 << 20);
        await Eventually(() => probe.Outstanding > 0 && probe.Leased > 0);
        await Task.Delay(200);
        Assert.Equal(1, probe.Outstanding);   // stuck behind the client

        probe.Recall = true;   // a stop or a checkpoint's hold waiting for the volume's gate
        await Eventually(() => probe.Outstanding == 0);
        for (int i = 0; i < 16; i++)
        {
            var (cookie, error, _, bytes) = await client.ReadMessageAsync(1 << 20).WaitAsync(Limit);
            Assert.Equal(0u, error);
            Assert.True(data.AsSpan((int)cookie << 20, 1 << 20).SequenceEqual(bytes), $"reply {cookie} differs");
        }
        Assert.Equal(0, probe.Outstanding);
    }

    [Fact]
    public async Task A_lease_refused_with_an_error_answers_that_error_and_the_connection_goes_on()
    {
        var (server, probe, data) = Serve();
        await using var _ = server;
        probe.Refusal = new NbdException(NbdError.Shutdown, "stopping");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(server.SocketPath));
        var client = new RawNbdClient(new NetworkStream(socket));
        await client.GoAsync("disk");
        await client.SendRequestAsync(0, 1, 0, 1 << 20);
        var reply = await client.ReadReplyAsync().WaitAsync(Limit);
        Assert.Equal((uint)NbdError.Shutdown, reply.Error);
        probe.Refusal = null;
        await client.SendRequestAsync(0, 2, 0, 1 << 20);
        reply = await client.ReadReplyAsync().WaitAsync(Limit);
        Assert.Equal(0u, reply.Error);
        Assert.Equal(data.AsSpan(0, 1 << 20).ToArray(), RawNbdClient.AssembleRead(reply, 0, 1 << 20));
    }

    [Fact]
    public async Task A_file_failing_after_the_header_is_out_closes_the_connection_rather_than_send_wrong_data()
    {
        // A write-only descriptor: sendfile fails (EBADF) on it once the header has gone, as EIO from a failing
        // disk would. The reply cannot be turned into an error any more, so the connection ends.
        var (server, probe, data) = Serve(p => File.OpenHandle(p, FileMode.Open, FileAccess.Write, FileShare.ReadWrite));
        await using var _ = server;
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(server.SocketPath));
        var client = new RawNbdClient(new NetworkStream(socket));
        await client.GoAsync("disk", structured: false);
        await client.SendRequestAsync(0, 1, 0, 1 << 20);
        var header = await client.ReadBytesAsync(16);   // the simple reply's header, error 0
        Assert.Equal(0u, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4)));
        Assert.True(await client.IsClosedAsync(), "the connection stayed open after a reply it could not complete");
        Assert.Equal(0, probe.Outstanding);

        // Other clients are served on.
        var r = await ProcessRunner.RunAsync("nbdcopy", server.UnixUri("raw"), Path.Combine(server.Directory, "copy.img"));
        Assert.True(r.ExitCode == 0, r.Describe("nbdcopy"));
        Assert.True(data.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(server.Directory, "copy.img"))));
    }

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in time");
            await Task.Delay(20);
        }
    }

    /// <summary>
    /// A file export whose bulk reads go by sendfile from its own handle on the file, counting the leases it
    /// hands out and gets back; its leases report <see cref="Recall"/>, and it refuses with <see cref="Refusal"/>.
    /// </summary>
    private sealed class LeaseProbe(FileExport inner, SafeFileHandle file) : ForwardingExport(inner), INbdFileRangeSource
    {
        private int _leased, _outstanding, _copied;
        public int Leased => Volatile.Read(ref _leased);
        public int Outstanding => Volatile.Read(ref _outstanding);
        /// <summary>Reads of 64 KiB or more served by copying (<see cref="INbdExport.ReadAsync"/>).</summary>
        public int Copied => Volatile.Read(ref _copied);
        public volatile bool Recall;
        public volatile NbdException? Refusal;

        public override ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
        {
            if (buffer.Length >= Granule) Interlocked.Increment(ref _copied);
            return Inner.ReadAsync(offset, buffer, ct);
        }

        public NbdFileRange? TryLeaseFileRange(long offset, int length)
        {
            if (Refusal is { } refusal) throw refusal;
            Interlocked.Increment(ref _leased);
            Interlocked.Increment(ref _outstanding);
            return new Range(this, offset);
        }

        private sealed class Range(LeaseProbe probe, long offset) : NbdFileRange(probe.File, offset)
        {
            public override bool IsRecalled => probe.Recall;
            protected override void Release() => Interlocked.Decrement(ref probe._outstanding);
        }

        private SafeFileHandle File => file;
    }
}
