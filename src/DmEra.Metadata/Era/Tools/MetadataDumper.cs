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
            foreach (var ws in writesets)
                DumpWriteset(visitor, ws, repair);

        visitor.EraArrayBegin();
        try
        {
            reader.VisitEras(logical ? writesets : [], 0, reader.NrBlocks, (first, eras) =>
            {
                for (var i = 0; i < eras.Length; i++) visitor.Era(first + (uint)i, eras[i]);
            });
        }
        catch (MetadataException) when (repair)
        {
            // --repair: print what could be read.
        }
        visitor.EraArrayEnd();
        visitor.SuperblockEnd();
    }

    private static List<Writeset> ReadWritesets(EraMetadataReader reader, bool repair)
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

    private static void DumpWriteset(IEraMetadataVisitor visitor, Writeset ws, bool repair)
    {
        visitor.WritesetBegin(ws.Era, ws.NrBits);
        try
        {
            for (uint bit = 0; bit < ws.NrBits; bit++)
                visitor.WritesetBit(bit, ws.Test(bit));
        }
        catch (MetadataException) when (repair)
        {
        }
        visitor.WritesetEnd();
    }
}
