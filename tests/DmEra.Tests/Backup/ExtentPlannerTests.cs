using DmEra.Backup;
using Xunit;
using E = DmEra.Backup.NbdConnection.Extent;

namespace DmEra.Tests.Backup;

public sealed class ExtentPlannerTests
{
    private const int Cs = 4096;

    [Fact]
    public void A_cluster_is_clean_only_when_all_of_it_is_clean_and_zero_only_when_all_of_it_reads_zero()
    {
        var allocation = new[] { new E(Cs, 0), new E(2 * Cs + 512, 3), new E(Cs - 512, 0), new E(4 * Cs, 3) };
        var dirty = new[] { new E(Cs, 0), new E(512, 1), new E(2 * Cs - 512, 0), new E(Cs, 1), new E(2 * Cs, 0), new E(2 * Cs, 1) };
        var actions = new List<ClusterAction>();
        var n = ExtentPlanner.Plan(0, 16 * Cs, Cs, allocation, dirty, actions, full: false);
        Assert.Equal(8, n);
        // Cluster 3 is dirty and half zero, half data: copied.
        Assert.Equal([ClusterAction.Skip, ClusterAction.Zero, ClusterAction.Skip, ClusterAction.Copy, ClusterAction.Skip,
            ClusterAction.Skip, ClusterAction.Zero, ClusterAction.Zero], actions);
    }

    [Fact]
    public void A_full_point_copies_every_cluster_with_data_and_leaves_out_the_zeros()
    {
        var allocation = new[] { new E(Cs + 100, 0), new E(3 * Cs - 100, 3) };
        var actions = new List<ClusterAction>();
        Assert.Equal(4, ExtentPlanner.Plan(0, 4 * Cs, Cs, allocation, null, actions, full: true));
        Assert.Equal([ClusterAction.Copy, ClusterAction.Copy, ClusterAction.Skip, ClusterAction.Skip], actions);
    }

    [Fact]
    public void An_answer_shorter_than_a_cluster_copies_that_cluster_rather_than_guess()
    {
        var actions = new List<ClusterAction>();
        Assert.Equal(1, ExtentPlanner.Plan(Cs, 8 * Cs, Cs, [new E(512, 3)], [new E(512, 0)], actions, full: false));
        Assert.Equal([ClusterAction.Copy], actions);
    }

    [Fact]
    public void The_last_partial_cluster_is_planned_when_the_answer_reaches_the_end()
    {
        var actions = new List<ClusterAction>();
        Assert.Equal(3, ExtentPlanner.Plan(0, 2 * Cs + 512, Cs, [new E(2 * Cs + 512, 0)], [new E(2 * Cs + 512, 1)], actions, full: false));
        Assert.Equal(3, actions.Count(a => a == ClusterAction.Copy));
    }
}
