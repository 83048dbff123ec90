using System.Net;
using System.Net.Sockets;
using DmEra.Nbd.Exports;
using DmEra.Nbd.Tests.Support;
using Xunit;

namespace DmEra.Nbd.Tests.Protocol;

/// <summary>Big READs over a real socket run on the connection's own thread (BulkReadLane), not the thread pool.</summary>
public sealed class BulkReadTests
{
    private const int Big = 256 * 1024;

    [Fact]
    public async Task Pipelined_bulk_reads_over_a_unix_socket_come_back_whole_off_the_thread_pool_beside_small_requests()
    {
        string dir = Directory.CreateTempSubdirectory("dmera-nbd-bulk-").FullName;
        var memory = new MemoryExport(8 << 20);
        var data = new byte[8 << 20];
        new Random(7).NextBytes(data);
        await memory.WriteAsync(0, data, false, default);
        var probe = new ThreadProbeExport(memory);
        var server = new NbdServer(new NbdExportCatalog().Add("d", probe));
        try
        {
            server.ListenUnix(Path.Combine(dir, "s.sock"));
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(Path.Combine(dir, "s.sock")));
            var client = new RawNbdClient(new NetworkStream(socket));
            await client.GoAsync("d");
            // 24 reads of 256 KiB (6 MiB, many times the socket buffer) in flight, a 4 KiB write and read among them.
            for (int i = 0; i < 24; i++) await client.SendRequestAsync(0, (ulong)i, (ulong)i * Big, Big);
            var small = new byte[4096];
            Array.Fill(small, (byte)0xAB);
            await client.SendRequestAsync(1, 100, 7 << 20, 4096, payload: small);
            var replies = new Dictionary<ulong, RawNbdClient.Reply>();
            for (int i = 0; i < 25; i++)
            {
                var reply = await client.ReadReplyAsync().WaitAsync(TimeSpan.FromSeconds(20));
                replies.Add(reply.Cookie, reply);
            }
            for (int i = 0; i < 24; i++)
            {
                Assert.Equal(0u, replies[(ulong)i].Error);
                Assert.Equal(data.AsSpan(i * Big, Big).ToArray(), RawNbdClient.AssembleRead(replies[(ulong)i], (ulong)i * Big, Big));
            }
            Assert.Equal(0u, replies[100].Error);
            await client.SendRequestAsync(0, 101, 7 << 20, 4096);
            Assert.Equal(small, RawNbdClient.AssembleRead(await client.ReadReplyAsync(), 7 << 20, 4096));
            Assert.Equal(0, probe.BigReadsOnThreadPool);
            Assert.Equal(24, probe.BigReads);
        }
        finally
        {
            await server.DisposeAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Stopping_ends_bulk_replies_blocked_on_a_client_that_stopped_reading()
    {
        var server = new NbdServer(new NbdExportCatalog().Add("d", new MemoryExport(32 << 20)));
        var ep = server.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0));
        using var tcp = new TcpClient { ReceiveBufferSize = 64 * 1024 };
        await tcp.ConnectAsync(ep);
        var client = new RawNbdClient(tcp.GetStream());
        await client.GoAsync("d", structured: false);
        // 32 MiB of replies asked for and none read: the server's sends block once both socket buffers are full.
        for (int i = 0; i < 32; i++) await client.SendRequestAsync(0, (ulong)i, (ulong)i << 20, 1 << 20);
        await Task.Delay(500);
        var started = DateTime.UtcNow;
        await server.StopAsync(TimeSpan.FromMilliseconds(300)).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15), $"stop took {DateTime.UtcNow - started}");
        Assert.Equal(0, server.ActiveConnections);
        await server.DisposeAsync();
    }

    /// <summary>Records whether reads of 64 KiB or more were served on thread-pool threads.</summary>
    private sealed class ThreadProbeExport(INbdExport inner) : ForwardingExport(inner)
    {
        private int _bigReads, _onPool;
        public int BigReads => Volatile.Read(ref _bigReads);
        public int BigReadsOnThreadPool => Volatile.Read(ref _onPool);
        public override ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
        {
            if (buffer.Length >= 64 * 1024)
            {
                Interlocked.Increment(ref _bigReads);
                if (Thread.CurrentThread.IsThreadPoolThread) Interlocked.Increment(ref _onPool);
            }
            return Inner.ReadAsync(offset, buffer, ct);
        }
    }
}
