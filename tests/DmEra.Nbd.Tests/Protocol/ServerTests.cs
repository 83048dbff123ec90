using System.Net;
using System.Net.Sockets;
using DmEra.Nbd.Exports;
using DmEra.Nbd.Tests.Support;
using Xunit;

namespace DmEra.Nbd.Tests.Protocol;

public sealed class ServerTests
{
    [Fact]
    public async Task Connections_beyond_the_cap_are_closed_at_accept_and_others_keep_working()
    {
        await using var server = new NbdServer(new NbdExportCatalog().Add("d", new MemoryExport(4096)), new NbdServerLimits { MaxConnections = 2 });
        var ep = server.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0));
        var clients = new List<TcpClient>();
        try
        {
            for (int i = 0; i < 2; i++)
            {
                var c = new TcpClient();
                await c.ConnectAsync(ep);
                clients.Add(c);
                await new RawNbdClient(c.GetStream()).ReadGreetingAsync();
            }
            await TransmissionTests.WaitUntil(() => server.ActiveConnections == 2);
            using var third = new TcpClient();
            await third.ConnectAsync(ep);
            Assert.True(await new RawNbdClient(third.GetStream()).IsClosedAsync());

            var first = new RawNbdClient(clients[0].GetStream());
            await first.SendClientFlagsAsync(3);
            await first.SendOptionAsync(8);
            Assert.Equal(1u, (await first.ReadOptionReplyAsync()).Type);
        }
        finally
        {
            foreach (var c in clients) c.Dispose();
        }
    }

    [Fact]
    public async Task Stopping_the_server_closes_connected_clients_and_removes_the_unix_socket()
    {
        string dir = Directory.CreateTempSubdirectory("dmera-nbd-stop-").FullName;
        try
        {
            string socketPath = Path.Combine(dir, "s.sock");
            var server = new NbdServer(new NbdExportCatalog().Add("d", new MemoryExport(4096)));
            server.ListenUnix(socketPath);
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
            var client = new RawNbdClient(new NetworkStream(socket));
            await client.GoAsync("d");
            await server.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(await client.IsClosedAsync());
            Assert.False(File.Exists(socketPath));
            Assert.Equal(0, server.ActiveConnections);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_misbehaving_client_does_not_disturb_another_clients_requests()
    {
        var export = new MemoryExport(1 << 20);
        await using var server = new NbdServer(new NbdExportCatalog().Add("d", export));
        var ep = server.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0));
        using var good = new TcpClient();
        await good.ConnectAsync(ep);
        var g = new RawNbdClient(good.GetStream());
        await g.GoAsync("d");
        using var bad = new TcpClient();
        await bad.ConnectAsync(ep);
        var b = new RawNbdClient(bad.GetStream());
        await b.GoAsync("d");
        // The bad client starts a write and stalls mid-payload; then sends garbage.
        await b.WriteAsync(RawNbdClient.Request(1, 1, 0, 65536)[..28]);
        await b.WriteAsync(new byte[1000]);
        var data = Enumerable.Repeat((byte)0x77, 4096).ToArray();
        await g.SendRequestAsync(1, 5, 0, 4096, payload: data);
        Assert.Equal(0u, (await g.ReadReplyAsync()).Error);
        await g.SendRequestAsync(0, 6, 0, 4096);
        Assert.Equal(data, RawNbdClient.AssembleRead(await g.ReadReplyAsync(), 0, 4096));
        bad.Close();
        await Task.Delay(100);
        await g.SendRequestAsync(0, 7, 0, 4096);
        Assert.Equal(data, RawNbdClient.AssembleRead(await g.ReadReplyAsync(), 0, 4096));
    }

    [Fact]
    public async Task A_live_unix_socket_is_refused_and_left_to_the_server_that_answers_on_it()
    {
        string dir = Directory.CreateTempSubdirectory("dmera-nbd-live-").FullName;
        try
        {
            string path = Path.Combine(dir, "s.sock");
            await using var first = new NbdServer(new NbdExportCatalog().Add("d", new MemoryExport(4096)));
            first.ListenUnix(path);
            await using (var second = new NbdServer(new NbdExportCatalog().Add("d", new MemoryExport(4096))))
            {
                var e = Assert.Throws<NbdException>(() => second.ListenUnix(path));
                Assert.Contains("another process answers", e.Message);
            }
            Assert.True(File.Exists(path));
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path)).WaitAsync(TimeSpan.FromSeconds(10));
            await new RawNbdClient(new NetworkStream(socket)).ReadGreetingAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Listening_on_a_path_that_holds_a_regular_file_is_refused_and_the_file_kept()
    {
        string dir = Directory.CreateTempSubdirectory("dmera-nbd-path-").FullName;
        try
        {
            string path = Path.Combine(dir, "not-a-socket");
            await File.WriteAllTextAsync(path, "precious");
            await using var server = new NbdServer(new NbdExportCatalog().Add("d", new MemoryExport(4096)));
            var e = Assert.Throws<NbdException>(() => server.ListenUnix(path));
            Assert.Contains("not a socket", e.Message);
            Assert.Equal("precious", await File.ReadAllTextAsync(path));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Stopping_lets_a_request_in_flight_finish_and_answers_it_before_closing()
    {
        var memory = new MemoryExport(1 << 20);
        var gated = new GatedExport(memory, offset => offset == 4096);
        var server = new NbdServer(new NbdExportCatalog().Add("g", gated));
        var ep = server.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0));
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(ep);
        var client = new RawNbdClient(tcp.GetStream());
        await client.GoAsync("g", structured: false);
        await client.SendRequestAsync(1, 42, 4096, 4, payload: [4, 3, 2, 1]);
        await TransmissionTests.WaitUntil(() => gated.Waiting == 1);

        var stopping = server.StopAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(200);
        Assert.False(stopping.IsCompleted);
        gated.Open();
        var reply = await client.ReadReplyAsync();
        Assert.Equal((42UL, 0u), (reply.Cookie, reply.Error));
        Assert.True(await client.IsClosedAsync());
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        var back = new byte[4];
        await memory.ReadAsync(4096, back, default);
        Assert.Equal([4, 3, 2, 1], back);
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Stopping_cancels_what_is_still_running_after_the_grace_period()
    {
        var gated = new GatedExport(new MemoryExport(1 << 20), _ => true);
        var server = new NbdServer(new NbdExportCatalog().Add("g", gated));
        var ep = server.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0));
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(ep);
        var client = new RawNbdClient(tcp.GetStream());
        await client.GoAsync("g", structured: false);
        await client.SendRequestAsync(0, 1, 0, 512);
        await TransmissionTests.WaitUntil(() => gated.Waiting == 1);
        var started = DateTime.UtcNow;
        // The gate would hold the read for 15 s; only the cancellation after the grace period ends it sooner.
        await server.StopAsync(TimeSpan.FromMilliseconds(300)).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(12), $"stop took {DateTime.UtcNow - started}");   // under the gate's 15 s
        Assert.True(await client.IsClosedAsync());
        gated.Open();
        await server.DisposeAsync();
    }
}
