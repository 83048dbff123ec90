using System.Text.RegularExpressions;
using DmEra.Nbd.Session;
using Xunit;

namespace DmEra.Nbd.Tests.Protocol;

public sealed class LimitsAndBudgetTests
{
    [Fact]
    public void The_limit_defaults_equal_the_dmera_nbd_block_of_akka_hocon()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "akka.hocon"))) dir = Path.GetDirectoryName(dir);
        Assert.NotNull(dir);
        string hocon = File.ReadAllText(Path.Combine(dir!, "akka.hocon"));
        var block = Regex.Match(hocon, @"\bnbd\s*\{(.*?)\n  \}", RegexOptions.Singleline);
        Assert.True(block.Success, "akka.hocon has no dmera.nbd block");
        var values = Regex.Matches(block.Groups[1].Value, @"^\s*([a-z-]+)\s*=\s*(\S+)", RegexOptions.Multiline)
            .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value.Trim('"'));
        var d = new NbdServerLimits();
        Assert.Equal(d.MaxPayloadBytes.ToString(), values["max-payload-bytes"]);
        Assert.Equal(d.MaxStringBytes.ToString(), values["max-string-bytes"]);
        Assert.Equal(d.MaxOptionBytes.ToString(), values["max-option-bytes"]);
        Assert.Equal(d.MaxOptionsPerHandshake.ToString(), values["max-options-per-handshake"]);
        Assert.Equal($"{d.HandshakeTimeout.TotalSeconds}s", values["handshake-timeout"]);
        Assert.Equal(d.MaxConnections.ToString(), values["max-connections"]);
        Assert.Equal(d.MaxInFlightRequests.ToString(), values["max-in-flight-requests"]);
        Assert.Equal(d.MaxBufferedBytesPerConnection.ToString(), values["max-buffered-bytes-per-connection"]);
        Assert.Equal(d.MaxSkippedWriteBytes.ToString(), values["max-skipped-write-bytes"]);
        Assert.Equal(d.MaxSelectedMetaContexts.ToString(), values["max-selected-meta-contexts"]);
        Assert.Equal(d.MaxExtentsPerReply.ToString(), values["max-extents-per-reply"]);
        Assert.Equal(d.SparseReadMinBytes.ToString(), values["sparse-read-min-bytes"]);
    }

    [Fact]
    public void Unusable_limits_are_rejected_by_name()
    {
        var e = Assert.Throws<ArgumentException>(() => new NbdServerLimits { MaxInFlightRequests = 0 }.Validate());
        Assert.Contains("MaxInFlightRequests", e.Message);
    }

    [Fact]
    public async Task The_byte_budget_admits_a_lone_oversized_request_and_makes_the_next_wait()
    {
        var budget = new ByteBudget(100);
        await budget.AcquireAsync(500, default);
        var waiting = budget.AcquireAsync(10, default).AsTask();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        budget.Release(500);
        await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(10, budget.Used);
    }

    [Fact]
    public async Task A_cancelled_budget_wait_gives_nothing_and_leaves_the_budget_usable()
    {
        var budget = new ByteBudget(100);
        await budget.AcquireAsync(80, default);
        using var cts = new CancellationTokenSource();
        var waiting = budget.AcquireAsync(50, cts.Token).AsTask();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        budget.Release(80);
        Assert.Equal(0, budget.Used);
        await budget.AcquireAsync(100, default);
        Assert.Equal(100, budget.Used);
    }

    [Fact]
    public void Extent_lists_merge_equal_neighbours_and_refuse_past_the_cap()
    {
        var list = new NbdExtentList(2, 1000);
        Assert.True(list.Add(100, 1));
        Assert.True(list.Add(100, 1));
        Assert.True(list.Add(100, 0));
        Assert.False(list.Add(100, 1));
        Assert.True(list.IsFull);
        Assert.Equal(2, list.Count);
        Assert.Equal(new NbdExtent(200, 1), list[0]);
    }
}
