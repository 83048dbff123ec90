namespace DmEra.Metadata.Era;

/// <summary>The figures of the kernel's status line.</summary>
public readonly record struct EraStatus(uint MetadataBlockSizeSectors, long UsedBlocks, long TotalBlocks, uint CurrentEra, long? HeldRoot)
{
    /// <summary>
    /// Exactly the kernel's format: <c>8 113/4096 7 -</c>. The held root is printed as the kernel's
    /// %llu of a u64, so even a garbage pointer on disk reads as the kernel would show it, never negative.
    /// </summary>
    public override string ToString() =>
        $"{MetadataBlockSizeSectors} {UsedBlocks}/{TotalBlocks} {CurrentEra} {(HeldRoot is { } r ? ((ulong)r).ToString(System.Globalization.CultureInfo.InvariantCulture) : "-")}";
}
