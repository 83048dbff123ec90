namespace DmEra.Micro.Bench.GroupCommit;

/// <summary>What a volume's <c>VolumeCounters</c> moved by over the timed writes of one benchmark case.</summary>
public readonly record struct CommitTotals(long Commits, long FirstWrites, long BlocksMarked, double Seconds)
{
    public double CommitsPerSecond => Seconds > 0 ? Commits / Seconds : double.NaN;
    public double BitsPerCommit => Commits > 0 ? (double)BlocksMarked / Commits : double.NaN;

    public CommitTotals Add(CommitTotals other) =>
        new(Commits + other.Commits, FirstWrites + other.FirstWrites, BlocksMarked + other.BlocksMarked, Seconds + other.Seconds);
}
