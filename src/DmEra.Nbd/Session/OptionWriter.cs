using System.Buffers.Binary;
using System.Text;
using DmEra.Nbd.Protocol;

namespace DmEra.Nbd.Session;

/// <summary>Builds and sends option replies during the handshake (one small write each; the client waits for them anyway).</summary>
internal sealed class OptionWriter
{
    public OptionWriter(Stream stream) => Stream = stream;

    public Stream Stream { get; set; }

    public async ValueTask SendAsync(NbdOption option, OptionReplyType type, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        var buffer = new byte[NbdWireSize.OptionReplyHeader + payload.Length];
        BinaryPrimitives.WriteUInt64BigEndian(buffer, NbdMagic.OptionReply);
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(8), (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(12), (uint)type);
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(16), (uint)payload.Length);
        payload.CopyTo(buffer.AsMemory(NbdWireSize.OptionReplyHeader));
        await Stream.WriteAsync(buffer, ct).ConfigureAwait(false);
        await Stream.FlushAsync(ct).ConfigureAwait(false);
    }

    public ValueTask AckAsync(NbdOption option, CancellationToken ct) => SendAsync(option, OptionReplyType.Ack, default, ct);

    /// <summary>An error reply; the message is for humans and is clipped so it can never exceed the string limit.</summary>
    public ValueTask ErrorAsync(NbdOption option, OptionReplyType error, string message, CancellationToken ct)
    {
        var text = Encoding.UTF8.GetBytes(message);
        return SendAsync(option, error, text.AsMemory(0, Math.Min(text.Length, MaxErrorMessageBytes)), ct);
    }

    /// <summary>Error text stays well under the spec's 4096-byte string limit (CVE-2020-10761 was an over-long error message).</summary>
    private const int MaxErrorMessageBytes = 1024;

    /// <summary>One REP_SERVER: u32 name length, name, then the optional human-readable description.</summary>
    public ValueTask ServerAsync(string name, string? description, CancellationToken ct)
    {
        var bytes = Encoding.UTF8.GetBytes(name);
        var text = Encoding.UTF8.GetBytes(description ?? "");
        var payload = new byte[4 + bytes.Length + text.Length];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)bytes.Length);
        bytes.CopyTo(payload, 4);
        text.CopyTo(payload, 4 + bytes.Length);
        return SendAsync(NbdOption.List, OptionReplyType.Server, payload, ct);
    }

    public ValueTask MetaContextAsync(NbdOption option, uint id, string name, CancellationToken ct)
    {
        var bytes = Encoding.UTF8.GetBytes(name);
        var payload = new byte[4 + bytes.Length];
        BinaryPrimitives.WriteUInt32BigEndian(payload, id);
        bytes.CopyTo(payload, 4);
        return SendAsync(option, OptionReplyType.MetaContext, payload, ct);
    }

    public ValueTask InfoExportAsync(NbdOption option, long size, TransmissionFlags flags, CancellationToken ct)
    {
        var payload = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)InfoType.Export);
        BinaryPrimitives.WriteUInt64BigEndian(payload.AsSpan(2), (ulong)size);
        BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(10), (ushort)flags);
        return SendAsync(option, OptionReplyType.Info, payload, ct);
    }

    public ValueTask InfoBlockSizeAsync(NbdOption option, uint minimum, uint preferred, uint maximum, CancellationToken ct)
    {
        var payload = new byte[14];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)InfoType.BlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(2), minimum);
        BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(6), preferred);
        BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(10), maximum);
        return SendAsync(option, OptionReplyType.Info, payload, ct);
    }

    public ValueTask InfoTextAsync(NbdOption option, InfoType type, string text, CancellationToken ct)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var payload = new byte[2 + bytes.Length];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)type);
        bytes.CopyTo(payload, 2);
        return SendAsync(option, OptionReplyType.Info, payload, ct);
    }
}
