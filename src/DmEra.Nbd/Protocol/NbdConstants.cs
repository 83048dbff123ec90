namespace DmEra.Nbd.Protocol;

/// <summary>Wire constants of the NBD protocol (NetworkBlockDevice/nbd doc/proto.md). All integers are big-endian.</summary>
internal static class NbdMagic
{
    public const ulong InitPasswd = 0x4e42444d41474943UL;   // "NBDMAGIC"
    public const ulong IHaveOpt = 0x49484156454F5054UL;     // "IHAVEOPT"
    public const ulong OptionReply = 0x3e889045565a9UL;
    public const uint Request = 0x25609513;
    public const uint SimpleReply = 0x67446698;
    public const uint StructuredReply = 0x668e33ef;
}

[Flags]
internal enum HandshakeFlags : ushort
{
    FixedNewstyle = 1,
    NoZeroes = 2,
}

[Flags]
internal enum ClientFlags : uint
{
    FixedNewstyle = 1,
    NoZeroes = 2,
}

internal enum NbdOption : uint
{
    ExportName = 1,
    Abort = 2,
    List = 3,
    StartTls = 5,
    Info = 6,
    Go = 7,
    StructuredReply = 8,
    ListMetaContext = 9,
    SetMetaContext = 10,
}

internal enum OptionReplyType : uint
{
    Ack = 1,
    Server = 2,
    Info = 3,
    MetaContext = 4,
    ErrUnsup = 0x80000001,
    ErrPolicy = 0x80000002,
    ErrInvalid = 0x80000003,
    ErrPlatform = 0x80000004,
    ErrTlsReqd = 0x80000005,
    ErrUnknown = 0x80000006,
    ErrShutdown = 0x80000007,
    ErrBlockSizeReqd = 0x80000008,
    ErrTooBig = 0x80000009,
}

internal enum InfoType : ushort
{
    Export = 0,
    Name = 1,
    Description = 2,
    BlockSize = 3,
}

/// <summary>Transmission flags sent with the export (proto.md "Transmission flags").</summary>
[Flags]
internal enum TransmissionFlags : ushort
{
    HasFlags = 1 << 0,
    ReadOnly = 1 << 1,
    SendFlush = 1 << 2,
    SendFua = 1 << 3,
    Rotational = 1 << 4,
    SendTrim = 1 << 5,
    SendWriteZeroes = 1 << 6,
    SendDf = 1 << 7,
    CanMultiConn = 1 << 8,
    SendResize = 1 << 9,
    SendCache = 1 << 10,
    SendFastZero = 1 << 11,
}

internal enum NbdCommand : ushort
{
    Read = 0,
    Write = 1,
    Disc = 2,
    Flush = 3,
    Trim = 4,
    Cache = 5,
    WriteZeroes = 6,
    BlockStatus = 7,
}

[Flags]
internal enum CommandFlags : ushort
{
    None = 0,
    Fua = 1 << 0,
    NoHole = 1 << 1,
    DontFragment = 1 << 2,
    ReqOne = 1 << 3,
    FastZero = 1 << 4,
}

internal enum ReplyChunkType : ushort
{
    None = 0,
    OffsetData = 1,
    OffsetHole = 2,
    BlockStatus = 5,
    Error = 0x8001,
    ErrorOffset = 0x8002,
}

[Flags]
internal enum ReplyChunkFlags : ushort
{
    None = 0,
    Done = 1,
}

/// <summary>Sizes of fixed wire structures.</summary>
internal static class NbdWireSize
{
    public const int RequestHeader = 28;
    public const int SimpleReplyHeader = 16;
    public const int StructuredReplyHeader = 20;
    public const int OptionHeader = 16;          // IHAVEOPT + option + length
    public const int OptionReplyHeader = 20;     // magic + option + type + length
    /// <summary>The legacy zero padding after EXPORT_NAME when NO_ZEROES was not negotiated.</summary>
    public const int ExportNamePadding = 124;
}
