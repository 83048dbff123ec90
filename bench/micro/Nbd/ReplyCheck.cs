using System.Buffers.Binary;

namespace DmEra.Micro.Bench.Nbd;

/// <summary>
/// Reads back what the server sent for a <see cref="ClientScript"/> and throws unless it is the handshake
/// the script asked for and one successful reply per request, with each READ's data, in any order.
/// </summary>
public static class ReplyCheck
{
    public static void Check(byte[] replies, ClientScript script, long exportBytes, byte readFill)
    {
        var at = 0;
        ReadOnlySpan<byte> Take(int n)
        {
            if (at + n > replies.Length) throw Fail($"the replies end at byte {replies.Length}, {at + n - replies.Length} bytes short");
            var s = replies.AsSpan(at, n);
            at += n;
            return s;
        }

        var greeting = Take(NbdWire.GreetingBytes);
        if (BinaryPrimitives.ReadUInt64BigEndian(greeting) != NbdWire.InitPasswd || BinaryPrimitives.ReadUInt64BigEndian(greeting[8..]) != NbdWire.IHaveOpt)
            throw Fail("bad greeting");
        if (script.StructuredReplies)
        {
            var ack = Take(NbdWire.OptionReplyHeaderBytes);
            if (BinaryPrimitives.ReadUInt64BigEndian(ack) != NbdWire.OptionReplyMagic
                || BinaryPrimitives.ReadUInt32BigEndian(ack[8..]) != NbdWire.OptStructuredReply
                || BinaryPrimitives.ReadUInt32BigEndian(ack[12..]) != NbdWire.OptReplyAck)
                throw Fail("STRUCTURED_REPLY was not acknowledged");
        }
        if (BinaryPrimitives.ReadUInt64BigEndian(Take(NbdWire.ExportNameReplyBytes)) != (ulong)exportBytes)
            throw Fail("EXPORT_NAME reported another export size");

        var answered = new bool[script.Requests];
        for (var i = 0; i < script.Requests; i++)
        {
            var magic = BinaryPrimitives.ReadUInt32BigEndian(Take(4));
            ulong cookie;
            if (magic == NbdWire.SimpleReplyMagic)
            {
                var rest = Take(NbdWire.SimpleReplyHeaderBytes - 4);
                if (BinaryPrimitives.ReadUInt32BigEndian(rest) is var error and not 0) throw Fail($"request failed with error {error}");
                cookie = BinaryPrimitives.ReadUInt64BigEndian(rest[4..]);
                if (!script.Writes && script.StructuredReplies) throw Fail("a READ got a simple reply after structured replies were negotiated");
                if (!script.Writes) CheckData(Take(script.PayloadBytes), readFill, cookie);
            }
            else if (magic == NbdWire.StructuredReplyMagic && !script.Writes)
            {
                var rest = Take(NbdWire.StructuredReplyHeaderBytes - 4 + 8);
                cookie = BinaryPrimitives.ReadUInt64BigEndian(rest[4..]);
                if (BinaryPrimitives.ReadUInt16BigEndian(rest) != NbdWire.ChunkFlagDone
                    || BinaryPrimitives.ReadUInt16BigEndian(rest[2..]) != NbdWire.ChunkOffsetData
                    || BinaryPrimitives.ReadUInt32BigEndian(rest[12..]) != 8 + (uint)script.PayloadBytes
                    || BinaryPrimitives.ReadUInt64BigEndian(rest[16..]) != cookie * (ulong)script.PayloadBytes)
                    throw Fail($"READ {cookie} was not answered with one whole OFFSET_DATA chunk");
                CheckData(Take(script.PayloadBytes), readFill, cookie);
            }
            else throw Fail($"unexpected reply magic 0x{magic:x8} at byte {at - 4}");
            if (cookie >= (ulong)script.Requests || answered[cookie]) throw Fail($"cookie {cookie} answered twice or never asked");
            answered[cookie] = true;
        }
        if (at != replies.Length) throw Fail($"{replies.Length - at} bytes follow the last reply");
    }

    private static void CheckData(ReadOnlySpan<byte> data, byte fill, ulong cookie)
    {
        if (data.ContainsAnyExcept(fill)) throw Fail($"READ {cookie} returned other data than the export holds");
    }

    private static InvalidOperationException Fail(string what) => new($"NBD reply check: {what}");
}
