using DmEra.Nbd.Protocol;

namespace DmEra.Nbd.Session;

/// <summary>One parsed request header, plus the write payload when there is one.</summary>
internal sealed class NbdRequest
{
    public CommandFlags Flags;
    public NbdCommand Command;
    public ulong Cookie;
    public ulong Offset;
    public uint Length;
    /// <summary>Rented buffer holding a WRITE payload (first <see cref="Length"/> bytes), or null.</summary>
    public byte[]? Payload;
    /// <summary>Bytes charged to the connection's budget, released when the reply is out.</summary>
    public long BudgetBytes;

    public bool Fua => (Flags & CommandFlags.Fua) != 0;
}
