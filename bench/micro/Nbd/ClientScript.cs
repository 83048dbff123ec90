using System.Buffers.Binary;

namespace DmEra.Micro.Bench.Nbd;

/// <summary>
/// Everything a pipelining client sends on one connection, built once: the fixed-newstyle handshake
/// (NO_ZEROES, optionally STRUCTURED_REPLY, then EXPORT_NAME), <c>Requests</c> READs or WRITEs of
/// <c>PayloadBytes</c> at consecutive offsets (cookie = request number), and DISC. The bytes arrive
/// in bursts (<c>ArrivalEnds</c>): the handshake, then <c>requestsPerArrival</c> requests at a time,
/// as a client with that many requests outstanding would send them.
/// </summary>
/// <param name="ArrivalEnds">Ascending offsets in <paramref name="Bytes"/> that one read of the connection never crosses; the last is the end.</param>
/// <param name="PayloadFill">The value of every byte the WRITEs carry.</param>
public sealed record ClientScript(bool StructuredReplies, bool Writes, int Requests, int PayloadBytes, byte PayloadFill, byte[] Bytes, int[] ArrivalEnds)
{
    public static ClientScript Build(string exportName, bool structuredReplies, bool writes, int requests, int payloadBytes,
        byte payloadFill, int requestsPerArrival)
    {
        var script = new MemoryStream();
        var arrivals = new List<int>();
        Span<byte> u32 = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(u32, NbdWire.ClientFixedNewstyleNoZeroes);
        script.Write(u32);
        if (structuredReplies) WriteOption(script, NbdWire.OptStructuredReply, []);
        WriteOption(script, NbdWire.OptExportName, System.Text.Encoding.UTF8.GetBytes(exportName));
        arrivals.Add((int)script.Length);

        var payload = new byte[payloadBytes];
        Array.Fill(payload, payloadFill);
        for (var i = 0; i < requests; i++)
        {
            WriteRequest(script, writes ? NbdWire.CmdWrite : NbdWire.CmdRead, cookie: (ulong)i, offset: (ulong)i * (ulong)payloadBytes, (uint)payloadBytes);
            if (writes) script.Write(payload);
            if ((i + 1) % requestsPerArrival == 0) arrivals.Add((int)script.Length);
        }
        WriteRequest(script, NbdWire.CmdDisc, cookie: (ulong)requests, offset: 0, length: 0);
        arrivals.Add((int)script.Length);
        return new ClientScript(structuredReplies, writes, requests, payloadBytes, payloadFill, script.ToArray(), arrivals.ToArray());
    }

    private static void WriteOption(MemoryStream script, uint option, byte[] data)
    {
        Span<byte> header = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(header, NbdWire.IHaveOpt);
        BinaryPrimitives.WriteUInt32BigEndian(header[8..], option);
        BinaryPrimitives.WriteUInt32BigEndian(header[12..], (uint)data.Length);
        script.Write(header);
        script.Write(data);
    }

    private static void WriteRequest(MemoryStream script, ushort command, ulong cookie, ulong offset, uint length)
    {
        Span<byte> header = stackalloc byte[NbdWire.RequestHeaderBytes];
        BinaryPrimitives.WriteUInt32BigEndian(header, NbdWire.RequestMagic);
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(header[6..], command);
        BinaryPrimitives.WriteUInt64BigEndian(header[8..], cookie);
        BinaryPrimitives.WriteUInt64BigEndian(header[16..], offset);
        BinaryPrimitives.WriteUInt32BigEndian(header[24..], length);
        script.Write(header);
    }
}
