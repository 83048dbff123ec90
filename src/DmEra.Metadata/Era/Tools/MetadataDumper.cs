using System.Buffers.Binary;
using DmEra.Metadata.Era.Xml;

namespace DmEra.Metadata.Era.Tools;

/// <summary>
/// era_dump: walks the metadata into a visitor in the order of the XML. The physical dump gives every
/// archived writeset bit by bit, then the raw era array; the logical dump folds the writesets into the
/// era array (a block's era is the newest era that wrote it). Streams: memory does not grow with the device.
/// </summary>
public static class MetadataDumper
{
    public static void Dump(EraMetadataReader reader, IEraMetadataVisitor visitor, bool logical, bool repair = false)
    {
        var sb = reader.Header;
        visitor.SuperblockBegin("", sb.DataBlockSize, sb.NrBlocks, sb.CurrentEra);
        var writesets = ReadWritesets(reader, repair);
        if (!logical)
            foreach (var (era, ws) in writesets)
                DumpWriteset(reader, visitor, era, ws, repair);

        visitor.EraArrayBegin();
        var cursors = logical ? writesets.Select(w => (w.Era, Cursor: reader.OpenBitset(w.Writeset))).ToArray() : [];
        try
        {
            reader.WalkEraArray((blockIndex, values) =>
            {
                var first = blockIndex * (uint)reader.EraArrayEntriesPerBlock;
                var n = values.Length / 4;
                for (var i = 0; i < n; i++)
                {
                    var block = first + (uint)i;
                    var era = BinaryPrimitives.ReadUInt32LittleEndian(values[(4 * i)..]);
                    foreach (var (wsEra, cursor) in cursors)
                        if (wsEra > era && cursor.Test(block)) era = wsEra;
                    visitor.Era(block, era);
                }
            });
        }
        catch (MetadataException) when (repair)
        {
            // --repair: print what could be read.
        }
        visitor.EraArrayEnd();
        visitor.SuperblockEnd();
    }

    private static List<(uint Era, WritesetRoot Writeset)> ReadWritesets(EraMetadataReader reader, bool repair)
    {
        try
        {
            return reader.Writesets();
        }
        catch (MetadataException) when (repair)
        {
            return [];
        }
    }

    private static void DumpWriteset(EraMetadataReader reader, IEraMetadataVisitor visitor, uint era, WritesetRoot ws, bool repair)
    {
        var cursor = reader.OpenBitset(ws);
        visitor.WritesetBegin(era, ws.NrBits);
        try
        {
            for (uint bit = 0; bit < ws.NrBits; bit++)
                visitor.WritesetBit(bit, cursor.Test(bit));
        }
        catch (MetadataException) when (repair)
        {
        }
        visitor.WritesetEnd();
    }
}
