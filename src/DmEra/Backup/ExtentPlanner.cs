namespace DmEra.Backup;

/// <summary>What a point does with one guest cluster.</summary>
public enum ClusterAction : byte
{
    /// <summary>Left unallocated: reads through to the previous point (clean), or zeros in a full point.</summary>
    Skip,
    /// <summary>Dirty and reading as zeros: recorded as a zero cluster, nothing copied.</summary>
    Zero,
    /// <summary>Dirty (or, in a full point, any) data: copied from the view.</summary>
    Copy,
}

/// <summary>
/// Turns one block-status answer into per-cluster actions. Pure. Errs toward copying: a cluster is
/// clean only when every byte of it is reported clean, and zero only when every byte is reported
/// zero (the NBD ZERO bit; a bare HOLE promises nothing about contents).
/// </summary>
public static class ExtentPlanner
{
    public const uint HoleFlag = 1, ZeroFlag = 2, DirtyFlag = 1;

    /// <param name="start">Cluster-aligned start of the window the extents describe.</param>
    /// <param name="size">The export's size (the last cluster may be partial).</param>
    /// <param name="allocation"><c>base:allocation</c> extents from <paramref name="start"/>, or null when the export offers none (all data).</param>
    /// <param name="dirty">Dirty-bitmap extents from <paramref name="start"/>, or null for a full point (all dirty).</param>
    /// <returns>How many clusters from <paramref name="start"/> were planned (at least one).</returns>
    public static long Plan(long start, long size, int clusterSize, IReadOnlyList<NbdConnection.Extent>? allocation,
        IReadOnlyList<NbdConnection.Extent>? dirty, List<ClusterAction> actions, bool full)
    {
        var covered = size - start;
        if (allocation is not null) covered = Math.Min(covered, Sum(allocation));
        if (dirty is not null) covered = Math.Min(covered, Sum(dirty));
        var end = start + covered;
        var clusters = end >= size ? Qcow2Layout.CeilDiv(size - start, clusterSize) : covered / clusterSize;
        if (clusters <= 0)
        {
            // The server answered less than one cluster: copy that cluster rather than guess.
            actions.Add(ClusterAction.Copy);
            return 1;
        }
        var a = new Cursor(allocation, start);
        var d = new Cursor(dirty, start);
        for (long c = 0; c < clusters; c++)
        {
            var from = start + c * clusterSize;
            var to = Math.Min(from + clusterSize, size);
            var isDirty = dirty is null || d.Any(from, to, e => (e.Flags & DirtyFlag) != 0);
            if (!isDirty)
            {
                actions.Add(ClusterAction.Skip);
                continue;
            }
            var isZero = allocation is not null && !a.Any(from, to, e => (e.Flags & ZeroFlag) == 0);
            actions.Add(isZero ? (full ? ClusterAction.Skip : ClusterAction.Zero) : ClusterAction.Copy);
        }
        return clusters;
    }

    private static long Sum(IReadOnlyList<NbdConnection.Extent> extents)
    {
        long s = 0;
        foreach (var e in extents) s += e.Length;
        return s;
    }

    /// <summary>Walks one context's extents forward as the clusters advance.</summary>
    private sealed class Cursor(IReadOnlyList<NbdConnection.Extent>? extents, long start)
    {
        private int _index;
        private long _extentStart = start;

        /// <summary>Whether any extent overlapping [from, to) satisfies <paramref name="test"/>.</summary>
        public bool Any(long from, long to, Func<NbdConnection.Extent, bool> test)
        {
            if (extents is null) return false;
            while (_index < extents.Count && _extentStart + extents[_index].Length <= from)
            {
                _extentStart += extents[_index].Length;
                _index++;
            }
            var i = _index;
            var s = _extentStart;
            while (i < extents.Count && s < to)
            {
                if (test(extents[i])) return true;
                s += extents[i].Length;
                i++;
            }
            return false;
        }
    }
}
