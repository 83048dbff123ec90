using DmEra.Metadata.Era.Xml;

namespace DmEra.Metadata.Tests.Xml;

/// <summary>Records visitor events as short strings, so tests can assert the exact event sequence.</summary>
public sealed class RecordingVisitor : IEraMetadataVisitor
{
    public List<string> Events { get; } = new();

    public void SuperblockBegin(string uuid, uint blockSize, uint nrBlocks, uint currentEra) =>
        Events.Add($"superblock '{uuid}' {blockSize} {nrBlocks} {currentEra}");
    public void WritesetBegin(uint era, uint nrBits) => Events.Add($"writeset {era} {nrBits}");
    public void WritesetBit(uint block, bool value) => Events.Add($"bit {block} {value}");
    public void WritesetMarked(uint blockBegin, uint length) => Events.Add($"marked {blockBegin} {length}");
    public void WritesetEnd() => Events.Add("/writeset");
    public void EraArrayBegin() => Events.Add("era_array");
    public void Era(uint block, uint era) => Events.Add($"era {block} {era}");
    public void EraArrayEnd() => Events.Add("/era_array");
    public void SuperblockEnd() => Events.Add("/superblock");
}
