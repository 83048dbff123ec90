namespace DmEra.Metadata.Era.Xml;

/// <summary>
/// The era metadata as a stream of events, in the order of the XML that era_dump prints:
/// superblock, then each writeset with its bits, then the era array, then the end.
/// Dump walks the on-disk metadata into one of these; restore reads XML into one.
/// Streaming keeps memory bounded on 2^31-block devices.
/// </summary>
public interface IEraMetadataVisitor
{
    void SuperblockBegin(string uuid, uint blockSize, uint nrBlocks, uint currentEra);
    void WritesetBegin(uint era, uint nrBits);
    /// <summary>One bit of the current writeset, as era_dump's non-compact <c>&lt;bit&gt;</c>.</summary>
    void WritesetBit(uint block, bool value);
    /// <summary>A run of set bits, as the compact <c>&lt;marked&gt;</c> form the Rust tools accept.</summary>
    void WritesetMarked(uint blockBegin, uint length);
    void WritesetEnd();
    void EraArrayBegin();
    void Era(uint block, uint era);
    void EraArrayEnd();
    void SuperblockEnd();
}
