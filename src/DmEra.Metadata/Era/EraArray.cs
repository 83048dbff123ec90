using System.Buffers.Binary;
using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Era;

/// <summary>
/// The era array (dm-era-target.c's era_array): one little-endian u32 per tracking block, the era the
/// digest last folded into it. A dm-array underneath; this type is the one place its value size lives.
/// </summary>
public sealed class EraArray
{
    /// <summary>Bytes per entry: the kernel's <c>__le32</c> era (era_array_info.value_type.size).</summary>
    public const int ValueSize = sizeof(uint);

    public EraArray(TransactionManager tm) => Values = new PersistentArray(tm, ValueSize);

    /// <summary>The dm-array of packed eras (for builders and walkers that work on any array).</summary>
    public PersistentArray Values { get; }

    public int EntriesPerBlock => Values.EntriesPerBlock;

    public long CreateEmpty() => Values.CreateEmpty();

    /// <summary>Grows or shrinks the array; new blocks start at era 0.</summary>
    public long Resize(long root, uint oldNrBlocks, uint newNrBlocks) =>
        Values.Resize(root, oldNrBlocks, newNrBlocks, stackalloc byte[ValueSize]);

    /// <summary>Gives <paramref name="era"/> to the given slots of array block <paramref name="arrayBlock"/> (the digest's write).</summary>
    public long SetEra(long root, uint arrayBlock, int[] slots, uint era) =>
        Values.EditBlock(root, arrayBlock, block =>
        {
            foreach (var slot in slots)
                BinaryPrimitives.WriteUInt32LittleEndian(block[(ArrayBlockView.HeaderSize + slot * ValueSize)..], era);
        });

    public uint Get(long root, uint block)
    {
        Span<byte> value = stackalloc byte[ValueSize];
        Values.Get(root, block, value);
        return BinaryPrimitives.ReadUInt32LittleEndian(value);
    }

    public void Walk(long root, ArrayBlockVisitor visit) => Values.Walk(root, visit);

    public void Delete(long root) => Values.Delete(root);

    /// <summary>Entries in one array block's packed values.</summary>
    public static int Count(ReadOnlySpan<byte> values) => values.Length / ValueSize;

    /// <summary>The era in slot <paramref name="slot"/> of one array block's packed values.</summary>
    public static uint EraAt(ReadOnlySpan<byte> values, int slot) =>
        BinaryPrimitives.ReadUInt32LittleEndian(values[(slot * ValueSize)..]);
}
