namespace DmEra.Engine.Tracking;

/// <summary>
/// Maps byte ranges of the origin to tracking blocks. NBD requests are not split at block boundaries the
/// way dm splits bios, so a request marks every block it overlaps: unaligned starts, several blocks, and a
/// partial last block (the kernel's nr_blocks counts a partial tail block too).
/// </summary>
public readonly record struct BlockGeometry(uint BlockSizeSectors, long OriginBytes)
{
    public long BlockBytes => BlockSizeSectors * 512L;

    /// <summary>log2 of the block size in bytes when it is a power of two (as the kernel's sectors_per_block_shift), else -1.</summary>
    private int Shift { get; } = long.IsPow2(BlockSizeSectors * 512L) ? System.Numerics.BitOperations.Log2((ulong)(BlockSizeSectors * 512L)) : -1;

    /// <summary>dm_sector_div_up(len, sectors_per_block), in ulong so an over-large origin can be refused, not wrapped.</summary>
    public ulong NrBlocks => (ulong)((OriginBytes + BlockBytes - 1) / BlockBytes);

    /// <summary>The first and last block a non-empty range overlaps.</summary>
    public (uint First, uint Last) BlocksOf(long offset, long length)
    {
        if (length <= 0) throw new ArgumentOutOfRangeException(nameof(length), "an empty range overlaps no block");
        var end = offset + length - 1;
        // Block sizes need only be multiples of 8 sectors; powers of two take the shift (no 64-bit divide).
        return Shift >= 0
            ? ((uint)(offset >> Shift), (uint)(end >> Shift))
            : ((uint)(offset / BlockBytes), (uint)(end / BlockBytes));
    }

    /// <summary>Throws the range error a protocol server maps to EINVAL / ENOSPC when a request leaves the device.</summary>
    public void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > OriginBytes || length > OriginBytes - offset)
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"request [{offset}, +{length}) lies outside the {OriginBytes}-byte volume");
    }
}
