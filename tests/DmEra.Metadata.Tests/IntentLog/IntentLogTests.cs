using DmEra.Metadata.Era;
using DmEra.Metadata.IntentLog;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Tests.IntentLog;

/// <summary>
/// The intent log's format: a scan from the header returns exactly the records appended and not yet passed
/// by the head, in order, across laps of the circle; a torn or lost last record ends the log before it;
/// a reset makes every earlier record stale.
/// </summary>
public sealed class IntentLogTests
{
    private static readonly byte[] Id = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();

    private static uint[] Marks(int seed, int count) =>
        Enumerable.Range(0, count).Select(i => (uint)(seed * 1000 + i)).ToArray();

    [Fact]
    public void A_scan_returns_the_appended_records_in_order_and_none_the_head_has_passed()
    {
        var device = MetadataDevice.InMemory(16);
        var log = IntentLogWriter.Reset(device, Id, 1);
        Assert.Equal(1ul, log.Append(3, Marks(1, 5)));
        Assert.Equal(2ul, log.Append(3, Marks(2, 300)));   // three sectors
        Assert.Equal(3ul, log.Append(4, Marks(3, 1)));
        var scan = IntentLogScan.Read(device);
        Assert.Equal([1ul, 2ul, 3ul], scan.Records.Select(r => r.Seq));
        Assert.Equal(Marks(2, 300), scan.Records[1].Blocks);
        Assert.Equal(4u, scan.Records[2].Era);
        Assert.Equal(Id, scan.Header!.TrackingId);

        log.AdvanceHead(3);
        Assert.Equal([3ul], IntentLogScan.Read(device).Records.Select(r => r.Seq));
        log.AdvanceHead(4);
        Assert.Empty(IntentLogScan.Read(device).Records);
        Assert.Equal(4ul, IntentLogScan.Read(device).NextSeq);
    }

    [Fact]
    public void A_torn_or_lost_last_record_ends_the_log_before_it()
    {
        var device = MetadataDevice.InMemory(16);
        var log = IntentLogWriter.Reset(device, Id, 1);
        log.Append(1, Marks(1, 3));
        var before = device.Clone();
        log.Append(1, Marks(2, 300));   // sectors 9..11 of block 1
        var block = new byte[MetadataBlock.Size];

        // Torn: its second sector never arrived.
        var torn = device.Clone();
        torn.Read(1, block);
        before.Read(1, new byte[MetadataBlock.Size]);
        block.AsSpan(2 * 512, 512).Clear();
        torn.Write(1, block);
        Assert.Equal([1ul], IntentLogScan.Read(torn).Records.Select(r => r.Seq));

        // Lost: the device kept the block as it was.
        Assert.Equal([1ul], IntentLogScan.Read(before).Records.Select(r => r.Seq));
        Assert.Equal([1ul, 2ul], IntentLogScan.Read(device).Records.Select(r => r.Seq));
    }

    [Fact]
    public void Records_go_round_the_circle_and_a_scan_always_finds_exactly_the_live_ones()
    {
        var device = MetadataDevice.InMemory(4);   // 24 sectors of records
        var log = IntentLogWriter.Reset(device, Id, 1);
        var rng = new Random(5);
        var live = new List<(ulong Seq, uint[] Marks)>();
        for (var i = 0; i < 400; i++)
        {
            var marks = Marks(i, rng.Next(1, 600));
            while (!log.HasRoomFor(marks.Length))
            {
                var head = live[0].Seq + (ulong)rng.Next(1, live.Count + 1);
                log.AdvanceHead(head);
                live.RemoveAll(r => r.Seq < head);
            }
            live.Add((log.Append(7, marks), marks));
            var scan = IntentLogScan.Read(device);
            Assert.Equal(live.Select(r => r.Seq), scan.Records.Select(r => r.Seq));
            Assert.Equal(live[^1].Marks, scan.Records[^1].Blocks);
        }
    }

    [Fact]
    public void A_batch_bigger_than_one_record_is_split_and_a_full_log_refuses_more()
    {
        var device = MetadataDevice.InMemory(8);
        var log = IntentLogWriter.Reset(device, Id, 10);
        var last = log.Append(2, Marks(1, 5000));
        Assert.Equal(12ul, last);
        Assert.Equal(Marks(1, 5000), IntentLogScan.Read(device).Records.SelectMany(r => r.Blocks));
        while (log.HasRoomFor(2000)) log.Append(2, Marks(2, 2000));
        Assert.Throws<MetadataException>(() => log.Append(2, Marks(3, 2000)));
        Assert.False(log.CouldEverHold(100_000));
    }

    [Fact]
    public void A_minimum_size_log_always_takes_small_batches_and_says_which_it_never_could()
    {
        var log = IntentLogWriter.Reset(MetadataDevice.InMemory(IntentLogFormat.MinBlocks), Id, 1);
        Assert.True(log.CouldEverHold(0));
        Assert.True(log.CouldEverHold(1));
        Assert.True(log.CouldEverHold(500));   // 4 sectors: twice that plus a block of slack is 16 of 24
        Assert.False(log.CouldEverHold(1500));
        for (var i = 0; i < 100; i++)   // round and round the area, freeing as it goes
        {
            Assert.True(log.HasRoomFor(500));
            log.AdvanceHead(log.Append(1, Marks(i, 500)) + 1);
        }
    }

    [Fact]
    public void A_reset_makes_every_earlier_record_stale()
    {
        var device = MetadataDevice.InMemory(16);
        var log = IntentLogWriter.Reset(device, Id, 1);
        log.Append(1, Marks(1, 3));
        log.Append(1, Marks(2, 3));
        var scan = IntentLogScan.Read(device);
        IntentLogWriter.Reset(device, Id, scan.NextSeq);
        var after = IntentLogScan.Read(device);
        Assert.Empty(after.Records);
        Assert.Equal(3ul, after.NextSeq);
    }

    [Fact]
    public void A_damaged_header_is_refused_and_a_zeroed_log_is_empty()
    {
        var device = MetadataDevice.InMemory(8);
        Assert.Null(IntentLogScan.Read(device).Header);
        IntentLogWriter.Reset(device, Id, 1);
        var block = new byte[MetadataBlock.Size];
        device.Read(0, block);
        block[45] ^= 1;
        device.Write(0, block);
        var e = Assert.Throws<MetadataException>(() => IntentLogScan.Read(device));
        Assert.Contains("checksum", e.Message);
        Assert.Throws<MetadataException>(() => IntentLogScan.Read(MetadataDevice.InMemory(2)));
    }

    [Fact]
    public void Replay_marks_the_current_writeset_skips_earlier_eras_and_refuses_a_later_one()
    {
        var md = EraMetadata.Format(MetadataDevice.InMemory(64), 8);
        md.Resize(100);
        md.Rollover();
        md.Commit();
        var era = md.CurrentEra;
        var device = MetadataDevice.InMemory(8);
        var log = IntentLogWriter.Reset(device, md.TrackingId, 1);
        log.Append(era - 1, [1, 2]);
        log.Append(era, [7, 3, 150]);   // 150 is beyond the writeset: dropped
        log.Append(era, [3, 9]);
        var result = IntentLogReplay.Apply(md, IntentLogScan.Read(device));
        Assert.Equal(3, result.MarksApplied);
        Assert.Equal(1, result.RecordsOfEarlierEras);
        Assert.True(md.IsMarkedInCurrentWriteset(7) && md.IsMarkedInCurrentWriteset(3) && md.IsMarkedInCurrentWriteset(9));
        Assert.False(md.IsMarkedInCurrentWriteset(1));

        log.Append(era + 1, [4]);
        var e = Assert.Throws<MetadataException>(() => IntentLogReplay.Apply(md, IntentLogScan.Read(device)));
        Assert.Contains("older than its log", e.Message);

        var other = MetadataDevice.InMemory(8);
        IntentLogWriter.Reset(other, new byte[16], 1).Append(era, [5]);
        Assert.True(IntentLogReplay.Apply(md, IntentLogScan.Read(other)).OtherHistory);
        Assert.False(md.IsMarkedInCurrentWriteset(5));
    }

    [Fact]
    public void Replay_after_a_clean_stop_that_archived_the_writeset_but_crashed_before_emptying_the_log_changes_nothing()
    {
        var md = EraMetadata.Format(MetadataDevice.InMemory(64), 8);
        md.Resize(100);
        md.Rollover();
        md.MarkBlocks([7]);
        md.Archive();   // postsuspend: the current writeset (with every logged mark) is archived under its era
        md.Commit();
        var device = MetadataDevice.InMemory(8);
        IntentLogWriter.Reset(device, md.TrackingId, 1).Append(md.CurrentEra, [7]);
        var result = IntentLogReplay.Apply(md, IntentLogScan.Read(device));
        Assert.Equal((0, 1), (result.MarksApplied, result.RecordsOfEarlierEras));
    }
}
