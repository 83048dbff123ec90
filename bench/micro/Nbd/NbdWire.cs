namespace DmEra.Micro.Bench.Nbd;

/// <summary>
/// The few NBD wire values the scripted client needs, written out from the protocol document (proto.md)
/// rather than borrowed from the server, so a server that got them wrong would fail the reply check.
/// </summary>
public static class NbdWire
{
    public const ulong InitPasswd = 0x4e42444d41474943UL;   // "NBDMAGIC"
    public const ulong IHaveOpt = 0x49484156454F5054UL;     // "IHAVEOPT"
    public const ulong OptionReplyMagic = 0x3e889045565a9UL;
    public const uint RequestMagic = 0x25609513;
    public const uint SimpleReplyMagic = 0x67446698;
    public const uint StructuredReplyMagic = 0x668e33ef;

    public const uint ClientFixedNewstyleNoZeroes = 1 | 2;
    public const uint OptExportName = 1;
    public const uint OptStructuredReply = 8;
    public const uint OptReplyAck = 1;

    public const ushort CmdRead = 0;
    public const ushort CmdWrite = 1;
    public const ushort CmdDisc = 2;

    public const ushort ChunkFlagDone = 1;
    public const ushort ChunkOffsetData = 1;

    public const int GreetingBytes = 18;
    public const int OptionReplyHeaderBytes = 20;
    public const int ExportNameReplyBytes = 10;   // size + transmission flags, NO_ZEROES negotiated
    public const int RequestHeaderBytes = 28;
    public const int SimpleReplyHeaderBytes = 16;
    public const int StructuredReplyHeaderBytes = 20;
}
