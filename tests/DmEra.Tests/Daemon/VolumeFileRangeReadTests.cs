using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Akka.Actor;
using DmEra.Daemon;
using DmEra.Engine;
using DmEra.Metadata.PersistentData;
using DmEra.Nbd;
using DmEra.Storage.Devices;
using DmEra.Tests.Tools;
using static DmEra.Tests.Daemon.DaemonEndToEndTests;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Daemon;

/// <summary>
/// Bulk reads of an era volume are sent from the origin file by sendfile (EraVolumeExport's file ranges):
/// real clients get the volume's bytes, a read waits for an answered write not yet on the origin, and a stop
/// is not held up by a client that stopped reading.
/// </summary>
public sealed class VolumeFileRangeReadTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    private const string OddReads = """
        import nbd, sys
        with open(sys.argv[3], "rb") as f:
            data = f.read()
        cases = [(0, 65536), (12345, 300001), (4095, 1 << 20), (3 << 20, 8 << 20), (len(data) - 70001, 70001), (999999, 262145)]
        for uri in sys.argv[1:3]:
            for structured in (True, False):
                h = nbd.NBD()
                h.set_request_structured_replies(structured)
                h.connect_uri(uri)
                for off, n in cases:
                    assert h.pread(n, off) == data[off:off + n], (uri, structured, off, n)
                bufs = [(off, n, nbd.Buffer(n)) for off, n in cases * 3]
                for off, n, b in bufs:
                    h.aio_pread(b, off)
                while h.aio_in_flight() > 0:
                    h.poll(-1)
                for off, n, b in bufs:
                    assert b.to_bytearray() == data[off:off + n], ("aio", uri, structured, off, n)
                h.shutdown()
        print("OK")
        """;

    [Fact]
    public async Task Real_clients_read_the_volume_byte_exact_over_unix_and_tcp()
    {
        using var dir = new TempDir();
        const long size = 24L << 20;
        var source = dir.File("source.img");
        var bytes = new byte[size];
        new Random(18).NextBytes(bytes);
        bytes.AsSpan(8 << 20, 64 << 10).Clear();   // a granule sent as a hole by the copying path
        File.WriteAllBytes(source, bytes);
        await using var d = await DaemonProcess.StartAsync(dir, "--volume", Volume(dir, "v", size));
        var port = int.Parse(Regex.Match(d.Log, @"NBD server listening on 127\.0\.0\.1:(\d+)").Groups[1].Value);
        var tcp = $"nbd://127.0.0.1:{port}/v";
        var r = Run("nbdcopy", source, d.Uri("v"));
        Assert.True(r.ExitCode == 0, r.ToString());

        foreach (var uri in new[] { d.Uri("v"), tcp })
        {
            var copy = dir.File("copy.img");
            r = Run("nbdcopy", uri, copy);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(copy)), $"nbdcopy from {uri} differs");
            File.Delete(copy);
            r = Run("qemu-img", "compare", "-f", "raw", "-F", "raw", source, uri);
            Assert.True(r.ExitCode == 0, r.ToString());
        }
        r = Python(OddReads, d.Uri("v"), tcp, source);
        Assert.True(r.ExitCode == 0 && r.StdOut.Contains("OK"), r.ToString());
    }

    [Fact]
    public async Task A_bulk_read_of_an_answered_write_not_yet_on_the_origin_returns_the_new_data()
    {
        await using var h = await InProcessVolume.StartAsync();
        // Data on the origin (a zero sample would send the read by copying anyway), then a new era: the write
        // below is a first write, answered at once while its commit is held.
        await h.Volume.WriteAsync(0, h.Pattern, fua: true);
        await h.Volume.CheckpointAsync();
        h.Metadata.FlushGate = new SemaphoreSlim(0);
        using var client = StartPython("""
            import nbd, sys
            h = nbd.NBD()
            h.connect_uri(sys.argv[1])
            new = bytes([0x5a]) * 65536
            h.pwrite(new, (1 << 20) + 4096)          # answered at once (write-back); not on the origin yet
            buf = nbd.Buffer(1 << 20)
            h.aio_pread(buf, 1 << 20)
            h.poll(300)                              # the request is out (a wrong server would answer now)
            print("issued", flush=True)
            while h.aio_in_flight() > 0:
                h.poll(-1)
            got = buf.to_bytearray()
            assert got[4096:4096 + 65536] == new, "the read returned the origin's old bytes"
            with open(sys.argv[2], "rb") as f:
                f.seek(1 << 20)
                old = f.read(4096)
            assert got[:4096] == old
            print("OK", flush=True)
            """, h.UnixUri, h.OriginPath);
        Assert.Equal("issued", await client.ReadLineAsync());
        h.Metadata.FlushGate.Release(1000);
        Assert.Equal("OK", await client.ReadLineAsync());
        await client.WaitAsync();
    }

    [Fact]
    public async Task A_stop_is_not_held_by_a_client_that_stopped_reading_bulk_replies_and_no_reply_carries_wrong_data()
    {
        await using var h = await InProcessVolume.StartAsync();
        await h.Volume.WriteAsync(0, h.Pattern, fua: true);
        using var client = StartPython("""
            import nbd, sys
            h = nbd.NBD()
            h.connect_uri(sys.argv[1])
            with open(sys.argv[2], "rb") as f:
                data = f.read()
            bufs = [(i, nbd.Buffer(1 << 20)) for i in range(32)]
            cookies = [(i, b, h.aio_pread(b, i << 20)) for i, b in bufs]
            h.poll(300)
            print("sent", flush=True)
            sys.stdin.readline()                     # reads no reply until the volume has stopped
            ok = failed = 0
            for i, b, c in cookies:
                while True:
                    try:
                        if h.aio_command_completed(c):
                            assert b.to_bytearray() == data[i << 20:(i + 1) << 20], f"reply {i} carries wrong data"
                            ok += 1
                            break
                    except nbd.Error:
                        failed += 1
                        break
                    try:
                        h.poll(-1)
                    except nbd.Error:
                        pass
            print(f"OK {ok} {failed}", flush=True)
            """, h.UnixUri, h.OriginPath);
        Assert.Equal("sent", await client.ReadLineAsync());
        await Task.Delay(300);
        var stopping = Stopwatch.StartNew();
        await h.Volume.StopAsync().WaitAsync(Limit);
        // The stop timeout is 120 s: a lease held on the stalled client would make the stop wait for it.
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(10), $"the stop took {stopping.Elapsed}");
        await client.WriteLineAsync("go");
        var result = (await client.ReadLineAsync())!.Split(' ');
        Assert.Equal("OK", result[0]);
        Assert.Equal(32, int.Parse(result[1]) + int.Parse(result[2]));
        Assert.True(int.Parse(result[2]) > 0, "every read finished before the stop: the test raced nothing");
        await client.WaitAsync();
    }

    private static ProcessResult Python(string script, params string[] args) => Run("/usr/bin/python3", ["-c", script, .. args]);

    private static PythonClient StartPython(string script, params string[] args) => new(script, args);

    /// <summary>A libnbd script run beside the test, line by line over its stdin and stdout; killed by pid on dispose.</summary>
    private sealed class PythonClient : IDisposable
    {
        private readonly Process _process;

        public PythonClient(string script, string[] args)
        {
            var psi = new ProcessStartInfo("/usr/bin/python3")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var a in new[] { "-c", script }.Concat(args)) psi.ArgumentList.Add(a);
            _process = Process.Start(psi)!;
        }

        public async Task<string?> ReadLineAsync()
        {
            var line = await _process.StandardOutput.ReadLineAsync().WaitAsync(Limit);
            if (line is null) Assert.Fail($"the client ended early:\n{await _process.StandardError.ReadToEndAsync()}");
            return line;
        }

        public async Task WriteLineAsync(string line)
        {
            await _process.StandardInput.WriteLineAsync(line);
            await _process.StandardInput.FlushAsync();
        }

        public async Task WaitAsync()
        {
            await _process.WaitForExitAsync().WaitAsync(Limit);
            Assert.True(_process.ExitCode == 0, await _process.StandardError.ReadToEndAsync());
        }

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.Dispose();
        }
    }

    /// <summary>
    /// An era volume over a real origin file (the path sendfile serves) and memory metadata whose flushes can be
    /// held (a commit in flight), exported by an in-process NBD server on a Unix socket.
    /// </summary>
    private sealed class InProcessVolume : IAsyncDisposable
    {
        private readonly ActorSystem _system;
        private readonly NbdServer _server;
        private readonly TempDir _dir;

        private InProcessVolume(TempDir dir, ActorSystem system, GatedDevice metadata, EraVolume volume, NbdServer server)
        {
            _dir = dir;
            _system = system;
            Metadata = metadata;
            Volume = volume;
            _server = server;
        }

        public GatedDevice Metadata { get; }
        public EraVolume Volume { get; }
        public string OriginPath => _dir.File("v.origin");
        public string UnixUri => $"nbd+unix:///v?socket={_dir.File("nbd.sock")}";
        public byte[] Pattern { get; } = MakePattern();

        private static byte[] MakePattern()
        {
            var p = new byte[32 << 20];
            new Random(5).NextBytes(p);
            return p;
        }

        public static async Task<InProcessVolume> StartAsync()
        {
            var dir = new TempDir();
            using (var f = File.Create(dir.File("v.origin"))) f.SetLength(32 << 20);
            var system = ActorSystem.Create("file-range-reads");
            var metadata = new GatedDevice(new MemoryDevice(4096L * 1024));
            var volume = await EraVolume.StartAsync(system, "v", new MetadataDevice(metadata), FileDevice.Open(dir.File("v.origin")), 128)
                .WaitAsync(Limit);
            var served = new ServedVolume(new VolumeSpec("v", dir.File("v.origin"), "memory", 128), volume);
            var server = new NbdServer(new NbdExportCatalog().Add("v", new EraVolumeExport(served)));
            server.ListenUnix(dir.File("nbd.sock"));
            return new InProcessVolume(dir, system, metadata, volume, server);
        }

        public async ValueTask DisposeAsync()
        {
            Metadata.FlushGate?.Release(1000);
            await _server.DisposeAsync();
            await Volume.StopAsync().WaitAsync(Limit);
            await _system.Terminate().WaitAsync(Limit);
            _dir.Dispose();
        }
    }

    /// <summary>A device whose flushes wait for <see cref="FlushGate"/> when it is set; every other call forwarded.</summary>
    private sealed class GatedDevice(IBlockDevice inner) : IBlockDevice
    {
        public volatile SemaphoreSlim? FlushGate;
        public long SizeBytes => inner.SizeBytes;
        public void Read(long offset, Span<byte> buffer) => inner.Read(offset, buffer);
        public void Write(long offset, ReadOnlySpan<byte> data) => inner.Write(offset, data);
        public void Write(long offset, IReadOnlyList<ReadOnlyMemory<byte>> pieces) => inner.Write(offset, pieces);
        public ValueTask ReadAsync(long offset, Memory<byte> buffer) => inner.ReadAsync(offset, buffer);
        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data) => inner.WriteAsync(offset, data);
        public ValueTask TrimAsync(long offset, long length) => inner.TrimAsync(offset, length);
        public ValueTask WriteZeroesAsync(long offset, long length) => inner.WriteZeroesAsync(offset, length);

        public void Flush()
        {
            FlushGate?.Wait();
            inner.Flush();
        }

        public async ValueTask FlushAsync()
        {
            if (FlushGate is { } gate) await gate.WaitAsync();
            await inner.FlushAsync();
        }

        public void Dispose() => inner.Dispose();
    }
}
