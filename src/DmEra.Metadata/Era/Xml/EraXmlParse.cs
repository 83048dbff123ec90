using System.Xml;

namespace DmEra.Metadata.Era.Xml;

/// <summary>
/// One pass over one era XML document: the element state machine behind <see cref="EraXmlReader"/>.
/// Element names are compared by reference against the reader's atomised name table, so the
/// per-element cost is one pointer compare and the attribute strings.
/// </summary>
internal sealed class EraXmlParse
{
    private enum Section { BeforeSuperblock, Superblock, Writeset, EraArray, Leaf, Done }

    private readonly XmlReader _xml;
    private readonly IXmlLineInfo? _lines;
    private readonly IEraMetadataVisitor _visitor;
    private readonly string _superblock, _writeset, _bit, _marked, _eraArray, _era;

    private Section _section = Section.BeforeSuperblock;
    private Section _leafParent;
    private string _leafName = "";
    private bool _sawEraArray;
    private uint _nrBlocks;
    private uint _nrBits;
    private readonly HashSet<uint> _writesetEras = new();

    public EraXmlParse(XmlReader xml, IEraMetadataVisitor visitor)
    {
        _xml = xml;
        _lines = xml as IXmlLineInfo;
        _visitor = visitor;
        var names = xml.NameTable;
        _superblock = names.Add("superblock");
        _writeset = names.Add("writeset");
        _bit = names.Add("bit");
        _marked = names.Add("marked");
        _eraArray = names.Add("era_array");
        _era = names.Add("era");
    }

    public void Run()
    {
        try
        {
            while (_xml.Read())
            {
                if (_xml.NodeType == XmlNodeType.Element)
                {
                    var empty = _xml.IsEmptyElement;
                    StartElement(_xml.Name); // qualified name: expat (era_restore) sees "x:superblock" as an unknown tag too
                    if (empty) EndElement();
                }
                else if (_xml.NodeType == XmlNodeType.EndElement)
                {
                    EndElement();
                }
                // Text and CDATA are ignored, as era_restore's expat handlers ignore them.
            }
        }
        catch (XmlException e)
        {
            throw EraXmlReader.Malformed(e);
        }

        if (_section != Section.Done) throw Error("the document has no <superblock> element");
    }

    private void StartElement(string name)
    {
        switch (_section)
        {
            case Section.BeforeSuperblock:
                if (!ReferenceEquals(name, _superblock))
                    throw Error($"expected <superblock> as the document element, found <{_xml.Name}>");
                Superblock();
                break;

            case Section.Superblock:
                if (ReferenceEquals(name, _writeset)) Writeset();
                else if (ReferenceEquals(name, _eraArray)) EraArray();
                else if (ReferenceEquals(name, _bit) || ReferenceEquals(name, _marked))
                    throw Error($"<{name}> outside a <writeset>");
                else if (ReferenceEquals(name, _era))
                    throw Error("<era> outside the <era_array>");
                else throw Unexpected("<superblock>", "<writeset> and <era_array>");
                break;

            case Section.Writeset:
                if (ReferenceEquals(name, _bit)) Bit();
                else if (ReferenceEquals(name, _marked)) Marked();
                else throw Unexpected("<writeset>", "<bit> and <marked>");
                break;

            case Section.EraArray:
                if (ReferenceEquals(name, _era)) Era();
                else throw Unexpected("<era_array>", "<era>");
                break;

            case Section.Leaf:
                throw Error($"<{_xml.Name}> inside <{_leafName}>, which takes no child elements");

            default:
                throw Error($"<{_xml.Name}> after </superblock>");
        }
    }

    private void EndElement()
    {
        switch (_section)
        {
            case Section.Leaf:
                _section = _leafParent;
                break;
            case Section.Writeset:
                _visitor.WritesetEnd();
                _section = Section.Superblock;
                break;
            case Section.EraArray:
                _visitor.EraArrayEnd();
                _section = Section.Superblock;
                break;
            case Section.Superblock:
                if (!_sawEraArray)
                {
                    // era_restore leaves every era at 0 when the element is missing; say so explicitly.
                    _visitor.EraArrayBegin();
                    _visitor.EraArrayEnd();
                }
                _visitor.SuperblockEnd();
                _section = Section.Done;
                break;
        }
    }

    private void Superblock()
    {
        var uuid = _xml.GetAttribute("uuid") ?? throw MissingAttribute("superblock", "uuid");
        var blockSize = U32("superblock", "block_size");
        _nrBlocks = U32("superblock", "nr_blocks");
        var currentEra = U32("superblock", "current_era");
        if (_nrBlocks == 0) throw Error("<superblock> nr_blocks=\"0\": an era device tracks at least one block");
        _visitor.SuperblockBegin(uuid, blockSize, _nrBlocks, currentEra);
        _section = Section.Superblock;
    }

    private void Writeset()
    {
        if (_sawEraArray) throw Error("<writeset> after <era_array>: writesets must come before the era array");
        var era = U32("writeset", "era");
        _nrBits = U32("writeset", "nr_bits");
        if (_nrBits == 0) throw Error($"<writeset era=\"{era}\"> has nr_bits=\"0\": a writeset holds at least one bit");
        if (!_writesetEras.Add(era)) throw Error($"a second <writeset> for era {era}");
        _visitor.WritesetBegin(era, _nrBits);
        _section = Section.Writeset;
    }

    private void Bit()
    {
        var block = U32("bit", "block");
        var value = _xml.GetAttribute("value") switch
        {
            "true" => true,
            "false" => false,
            null => throw MissingAttribute("bit", "value"),
            var other => throw Error($"<bit> value=\"{other}\" is not \"true\" or \"false\""),
        };
        if (block >= _nrBits) throw Error($"<bit> block {block} is out of range: the writeset has nr_bits {_nrBits}");
        _visitor.WritesetBit(block, value);
        EnterLeaf("bit");
    }

    private void Marked()
    {
        var begin = U32("marked", "block_begin");
        var length = U32("marked", "len");
        if ((ulong)begin + length > _nrBits)
            throw Error($"<marked> blocks {begin}..{(ulong)begin + length} run past the writeset's nr_bits {_nrBits}");
        _visitor.WritesetMarked(begin, length);
        EnterLeaf("marked");
    }

    private void EraArray()
    {
        if (_sawEraArray) throw Error("a second <era_array>");
        _sawEraArray = true;
        _visitor.EraArrayBegin();
        _section = Section.EraArray;
    }

    private void Era()
    {
        var block = U32("era", "block");
        var era = U32("era", "era");
        if (block >= _nrBlocks) throw Error($"<era> block {block} is out of range: the superblock has nr_blocks {_nrBlocks}");
        _visitor.Era(block, era);
        EnterLeaf("era");
    }

    private void EnterLeaf(string name)
    {
        _leafParent = _section;
        _leafName = name;
        _section = Section.Leaf;
    }

    private uint U32(string element, string attribute)
    {
        var text = _xml.GetAttribute(attribute) ?? throw MissingAttribute(element, attribute);
        if (!EraXmlReader.TryParseU32(text, out var value))
            throw Error($"<{element}> {attribute}=\"{Shorten(text)}\" is not an unsigned 32-bit decimal number");
        return value;
    }

    private EraXmlException MissingAttribute(string element, string attribute) =>
        Error($"<{element}> has no {attribute} attribute");

    private EraXmlException Unexpected(string parent, string allowed) =>
        Error($"unexpected <{_xml.Name}> inside {parent}: only {allowed} may appear there");

    private EraXmlException Error(string problem) =>
        new(_lines?.LineNumber ?? 0, _lines?.LinePosition ?? 0, problem);

    /// <summary>Keeps the message one readable line even if the attribute holds a novel.</summary>
    private static string Shorten(string text)
    {
        var oneLine = text.Replace('\r', ' ').Replace('\n', ' ');
        return oneLine.Length <= 40 ? oneLine : oneLine[..40] + "...";
    }
}
