using DmEra.Nbd.Tests.Support;
using Xunit;

namespace DmEra.Nbd.Tests.Interop;

/// <summary>fio's nbd engine (libnbd, async, one connection per job) and the Linux kernel client.</summary>
public sealed class FioAndKernelTests
{
    [Theory]
    [InlineData("randwrite", 1)]
    [InlineData("randrw", 2)]
    public async Task Fio_random_io_verifies_with_crc32c(string pattern, int jobs)
    {
        await using var server = new InteropServer();
        server.AddFileExport("disk", 64 << 20);
        var r = await ProcessRunner.RunAsync("fio", [
            "--name=verify", "--ioengine=nbd", $"--uri={server.TcpUri("disk")}", $"--rw={pattern}", "--bs=4k", "--size=32m",
            "--iodepth=16", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1", $"--numjobs={jobs}",
            jobs > 1 ? "--offset_increment=32m" : "--offset=0", "--fsync=64", "--group_reporting"], TimeSpan.FromSeconds(120));
        Assert.True(r.ExitCode == 0, r.Describe("fio"));
        Assert.DoesNotContain("verify:", r.Stderr);
        Assert.Contains("err= 0", r.Stdout);
    }

    [KernelNbdFact]
    public async Task The_kernel_client_reads_back_what_it_writes()
    {
        await using var server = new InteropServer();
        server.AddFileExport("disk", 64 << 20);
        var connect = await ProcessRunner.RunAsync("nbd-client", "127.0.0.1", server.Endpoint.Port.ToString(), "/dev/nbd0", "-N", "disk", "-b", "4096", "-C", "2");
        Assert.True(connect.ExitCode == 0, connect.Describe("nbd-client"));
        try
        {
            var io = await ProcessRunner.RunAsync("fio", ["--name=k", "--filename=/dev/nbd0", "--direct=1", "--ioengine=libaio", "--rw=randwrite",
                "--bs=4k", "--size=32m", "--iodepth=16", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1"], TimeSpan.FromSeconds(120));
            Assert.True(io.ExitCode == 0, io.Describe("fio on /dev/nbd0"));
        }
        finally
        {
            await ProcessRunner.RunAsync("nbd-client", "-d", "/dev/nbd0");
        }
    }
}

/// <summary>Runs only where the kernel NBD client is usable; elsewhere the runner shows the skip reason.</summary>
public sealed class KernelNbdFactAttribute : FactAttribute
{
    public KernelNbdFactAttribute()
    {
        if (!File.Exists("/dev/nbd0")) Skip = "no /dev/nbd0 on this machine (modprobe nbd needs a kernel with the module); kernel client not tested";
        else if (!File.Exists("/usr/sbin/nbd-client") && !File.Exists("/sbin/nbd-client")) Skip = "nbd-client is not installed";
        else if (Environment.UserName != "root") Skip = "the kernel client needs root";
    }
}
