using System.Reflection;
using DmEra.Engine;
using DmEra.Engine.Actors;
using DmEra.Engine.Tracking;

namespace DmEra.Crash.Tests.Live;

/// <summary>
/// Assertions checked while a workload is recorded (TigerBeetle keeps its assertions on in production
/// for the same reason: they point at the instant a rule broke, not at a crash state much later).
/// All calls happen under the trace's lock, so the durable view and the events agree.
/// <list type="bullet">
/// <item>W1: no metadata write lands on a block the last durable superblock can reach (block 0 aside).</item>
/// <item>W2: no origin write, trim or zeroing is submitted before a durable commit marks every block it
/// overlaps in the era the client had been told had begun when it sent the request, or a later one.</item>
/// <item>W3: every in-core bit of the current era is set in durable metadata.</item>
/// </list>
/// </summary>
public sealed class LiveInvariants
{
    private static readonly FieldInfo StartedField =
        typeof(EraVolume).GetField("_started", BindingFlags.NonPublic | BindingFlags.Instance)
        ?? throw new InvalidOperationException("EraVolume._started not found: the live in-core check (W3) needs updating");

    private readonly List<string> _violations = new();
    private EraTracker? _tracker;

    public LiveInvariants(long metadataBlocks) => Durable = DurableMetadataView.Unformatted(metadataBlocks);

    public DurableMetadataView Durable { get; private set; }
    public long BlockBytes { get; init; } = 4096;
    public int Checks { get; private set; }

    public IReadOnlyList<string> Violations
    {
        get { lock (_violations) return _violations.ToArray(); }
    }

    /// <summary>The volume whose in-core bits W3 watches (null between a stop and the next start).</summary>
    public void Watch(EraVolume? volume) =>
        Volatile.Write(ref _tracker, volume is null ? null : ((Volume.Started)StartedField.GetValue(volume)!).Tracker);

    public void OnDurableSuperblock(DurableMetadataView view)
    {
        Durable = view;
        CheckInCore("after a durable commit");
    }

    public void OnMetadataWrite(long block)
    {
        Checks++;
        if (block != 0 && block < Durable.Reachable.Length && Durable.Reachable[block])
            Fail($"W1: metadata block {block} written while the last durable superblock reaches it");
        CheckInCore($"at a write of metadata block {block}");
    }

    public void OnOriginSubmit(long request, uint requestEra, long offset, long length, string what)
    {
        Checks++;
        if (length <= 0) return;
        var first = offset / BlockBytes;
        var last = (offset + length - 1) / BlockBytes;
        for (var b = first; b <= last; b++)
        {
            var era = b < Durable.EraOf.Length ? Durable.EraOf[b] : 0;
            if (era < requestEra || era == 0)
                Fail($"W2: {what} of request {request} submitted to block {b} (of [{offset}, +{length})) before a durable commit marked it in era {requestEra} or later (durable era of the block: {era})");
        }
        CheckInCore($"at the submit of {what}");
    }

    /// <summary>W3. The in-core bits are read first: a bit is set only after its commit's flush updated the durable view.</summary>
    public void CheckInCore(string when)
    {
        var tracker = Volatile.Read(ref _tracker);
        if (tracker is null) return;
        var era = tracker.CurrentEra;
        var bits = tracker.Current;
        if (era > Durable.CurrentEra)
            Fail($"W3: in-core era {era} is ahead of the durable era {Durable.CurrentEra} {when}");
        for (uint b = 0; b < bits.NrBlocks; b++)
        {
            if (!bits.IsMarked(b)) continue;
            var durable = b < Durable.EraOf.Length ? Durable.EraOf[b] : 0;
            if (durable < era)
                Fail($"W3: block {b} is marked in-core in era {era} but durable metadata marks it only up to era {durable} {when}");
        }
    }

    private void Fail(string message)
    {
        lock (_violations)
            if (_violations.Count < 50) _violations.Add(message);
    }
}
