using System.Buffers.Binary;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;
using static DmEra.Tests.Tools.DmeraProcess;

namespace DmEra.Tests.Tools;

/// <summary>
/// The checker's gaps and the readers' leniency (issue 15 item 3): what dmera check rejects, dump and
/// invalidate refuse too; only dump --repair reads on, as era_dump --repair does. The real era tools
/// are the oracle where they look.
/// </summary>
public sealed class StrictReaderTests
{
    [Theory]
    [InlineData(3u, true)]    // internal and leaf at once: era_check rejects it too
    [InlineData(6u, false)]   // leaf plus an unknown bit: era_check 0.9.0 lets it pass
    public void A_btree_node_with_both_flags_or_unknown_flag_bits_is_rejected_by_check_dump_and_invalidate(uint flags, bool eraCheckRejects)
    {
        using var dir = new TempDir();
        var path = MakeMetadata(dir);
        long root;
        using (var device = MetadataDevice.Open(path, false, DeviceLock.Shared)) root = EraSuperblock.Read(device).WritesetTreeRoot;
        Rewrite(path, root, BlockKind.BtreeNode, b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), flags));

        Assert.Equal(eraCheckRejects, Run("era_check", "-q", path).ExitCode != 0);
        var check = Dmera("check", path);
        Assert.True(check.ExitCode == 1, check.ToString());
        Assert.Contains($"{root}", check.StdErr);
        AssertReadersRefuse(path, $"{root}");
        var repaired = Dmera("dump", "--repair", path);
        Assert.True(repaired.ExitCode == 0, repaired.ToString());
        Assert.Contains("<era_array>", repaired.StdOut);
    }

    [Fact]
    public void Nr_blocks_of_2_to_the_32_minus_1_is_refused_by_every_reader_as_era_dump_refuses_it()
    {
        using var dir = new TempDir();
        var path = MakeMetadata(dir);
        Rewrite(path, 0, BlockKind.Superblock, b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(180), uint.MaxValue));

        Assert.NotEqual(0, Run("era_dump", path).ExitCode);   // the oracle refuses it
        Assert.Equal(1, Dmera("check", "-q", path).ExitCode);
        AssertReadersRefuse(path, "nr_blocks");
    }

    [Fact]
    public void Damage_only_dmera_check_sees_a_space_map_count_too_low_is_refused_by_dump_and_invalidate_too()
    {
        using var dir = new TempDir();
        var path = MakeMetadata(dir);
        long victim, bitmap;
        using (var device = MetadataDevice.Open(path, false, DeviceLock.Shared))
        {
            var sb = EraSuperblock.Read(device);
            victim = sb.EraArrayRoot;
            var index = new BlockManager(device).Read(sb.SpaceMapRoot.IndexLocation, BlockKind.SpaceMapIndex);
            bitmap = SpaceMapBitmap.ReadIndexEntry(index, (int)(victim / SpaceMapBitmap.EntriesPerBlock)).Location;
        }
        // Mark the era array's root free in its space map bitmap: era_check never reads the space map.
        Rewrite(path, bitmap, BlockKind.SpaceMapBitmap, b =>
        {
            var e = (int)(victim % SpaceMapBitmap.EntriesPerBlock);
            var at = SpaceMapBitmap.HeaderSize + 8 * (e / 32);
            var word = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(at)) & ~(3UL << (2 * (e % 32)));
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), word);
        });
        Assert.Equal(0, Run("era_check", "-q", path).ExitCode);
        Assert.Equal(1, Dmera("check", "-q", path).ExitCode);
        AssertReadersRefuse(path, "space map");
        Assert.Equal(0, Dmera("dump", "--repair", "-o", dir.File("repair.xml"), path).ExitCode);
    }

    private static void AssertReadersRefuse(string path, string named)
    {
        foreach (var args in new[] { new[] { "dump" }, ["dump", "--logical"], ["invalidate", "--written-since", "0"] })
        {
            var r = Dmera([.. args, path]);
            Assert.True(r.ExitCode == 1, $"{string.Join(' ', args)}: {r}");
            Assert.Contains(named, r.StdErr);
            Assert.Empty(r.StdOut);
            Assert.DoesNotContain("   at ", r.StdErr);
        }
    }

    /// <summary>Edits a block in place and restamps its checksum, as a hostile or buggy writer would.</summary>
    private static void Rewrite(string path, long location, BlockKind kind, Action<byte[]> edit)
    {
        var block = new byte[MetadataBlock.Size];
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        f.Position = location * MetadataBlock.Size;
        f.ReadExactly(block);
        edit(block);
        BlockValidator.Prepare(location, block, kind);
        f.Position = location * MetadataBlock.Size;
        f.Write(block);
    }

    private static string MakeMetadata(TempDir dir)
    {
        var path = dir.File("meta.bin");
        using (var f = File.Create(path)) f.SetLength(4 << 20);
        using var md = EraMetadata.Open(MetadataDevice.Open(path, true, DeviceLock.Exclusive), 128);
        md.Resize(5000);
        md.Rollover();
        md.MarkBlocks([1, 2, 4000]);
        md.Commit();
        md.Rollover();
        md.MarkBlocks([7]);
        md.Commit();
        md.Archive();
        md.Commit();
        return path;
    }
}
