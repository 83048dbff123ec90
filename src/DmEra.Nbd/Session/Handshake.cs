using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using DmEra.Nbd.Protocol;
using Microsoft.Extensions.Logging;

namespace DmEra.Nbd.Session;

/// <summary>A metadata context selected by SET_META_CONTEXT, with the id the client uses for it.</summary>
internal readonly record struct SelectedContext(uint Id, INbdMetaContext Context);

/// <summary>
/// What the handshake agreed; the transmission phase runs on it. <paramref name="OverUnixSocket"/>: the
/// connection is a Unix socket (with or without TLS), where what the client can send ahead of our reads is
/// bounded by its own send buffer rather than by our receive window.
/// </summary>
internal sealed record NegotiatedConnection(
    Stream Stream,
    WireReader Reader,
    INbdExport Export,
    string ExportName,
    bool StructuredReplies,
    IReadOnlyList<SelectedContext> Contexts,
    bool OverUnixSocket);

/// <summary>
/// The fixed-newstyle handshake (proto.md "Fixed newstyle negotiation"): greeting, client flags, then options
/// until EXPORT_NAME or GO starts transmission, ABORT ends it, or the client goes away.
/// </summary>
internal sealed class Handshake
{
    private readonly INbdExportCatalog _catalog;
    private readonly NbdServerLimits _limits;
    private readonly NbdTlsSettings? _tls;
    private readonly ILogger _log;
    private readonly string _peer;

    private Stream _stream;
    private readonly bool _overUnixSocket;
    private WireReader _reader;
    private readonly OptionWriter _writer;
    private bool _noZeroes;
    private bool _tlsActive;
    private bool _structuredReplies;
    private string? _contextsExportName;
    private readonly List<SelectedContext> _selected = new();
    private uint _nextContextId;

    public Handshake(Stream stream, INbdExportCatalog catalog, NbdServerLimits limits, NbdTlsSettings? tls, ILogger log, string peer)
    {
        _stream = stream;
        _overUnixSocket = stream is NetworkStream { Socket.AddressFamily: AddressFamily.Unix };
        _reader = new WireReader(stream);
        _writer = new OptionWriter(stream);
        _catalog = catalog;
        _limits = limits;
        _tls = tls;
        _log = log;
        _peer = peer;
    }

    /// <summary>The stream now in use (an SslStream after STARTTLS); the caller owns and disposes it.</summary>
    public Stream CurrentStream => _stream;

    /// <summary>Runs the handshake; null when the client ended it without entering transmission.</summary>
    public async Task<NegotiatedConnection?> RunAsync(CancellationToken ct)
    {
        var greeting = new byte[18];
        BinaryPrimitives.WriteUInt64BigEndian(greeting, NbdMagic.InitPasswd);
        BinaryPrimitives.WriteUInt64BigEndian(greeting.AsSpan(8), NbdMagic.IHaveOpt);
        BinaryPrimitives.WriteUInt16BigEndian(greeting.AsSpan(16), (ushort)(HandshakeFlags.FixedNewstyle | HandshakeFlags.NoZeroes));
        await _stream.WriteAsync(greeting, ct).ConfigureAwait(false);
        await _stream.FlushAsync(ct).ConfigureAwait(false);

        var flagBytes = new byte[4];
        if (!await _reader.ReadExactAsync(flagBytes, ct).ConfigureAwait(false)) return null; // connect-then-close (nbd#165)
        var clientFlags = (ClientFlags)BinaryPrimitives.ReadUInt32BigEndian(flagBytes);
        if ((clientFlags & ~(ClientFlags.FixedNewstyle | ClientFlags.NoZeroes)) != 0)
            throw new NbdProtocolException($"unknown client flags 0x{(uint)clientFlags:x}: the spec requires closing the connection");
        _noZeroes = (clientFlags & ClientFlags.NoZeroes) != 0;

        var header = new byte[NbdWireSize.OptionHeader];
        for (int count = 0; ; count++)
        {
            if (!await _reader.ReadExactAsync(header, ct).ConfigureAwait(false)) return null;
            if (count >= _limits.MaxOptionsPerHandshake)
                throw new NbdProtocolException($"more than {_limits.MaxOptionsPerHandshake} options in one handshake");
            if (BinaryPrimitives.ReadUInt64BigEndian(header) != NbdMagic.IHaveOpt)
                throw new NbdProtocolException("bad option magic");
            var option = (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8));
            uint length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
            if (length > (uint)_limits.MaxOptionBytes)
            {
                if (option == NbdOption.ExportName) throw new NbdProtocolException($"EXPORT_NAME of {length} bytes exceeds the limit");
                // Answer, then close rather than drain up to 4 GiB (CVE-2017-15119).
                await _writer.ErrorAsync(option, OptionReplyType.ErrTooBig, $"option data of {length} bytes exceeds the {_limits.MaxOptionBytes}-byte limit", ct).ConfigureAwait(false);
                return null;
            }
            var data = new byte[length];
            await _reader.ReadRequiredAsync(data, ct).ConfigureAwait(false);

            if (_tls is { Required: true } && !_tlsActive && option is not (NbdOption.StartTls or NbdOption.Abort))
            {
                if (option == NbdOption.ExportName) throw new NbdProtocolException("EXPORT_NAME before STARTTLS on a TLS-only server");
                await _writer.ErrorAsync(option, OptionReplyType.ErrTlsReqd, "this server requires TLS: send NBD_OPT_STARTTLS first", ct).ConfigureAwait(false);
                continue;
            }

            var result = await HandleOptionAsync(option, data, ct).ConfigureAwait(false);
            if (result is OptionOutcome.End) return null;
            if (result is OptionOutcome.Transmission) return _negotiated;
        }
    }

    private enum OptionOutcome { Continue, End, Transmission }

    private NegotiatedConnection? _negotiated;

    private async ValueTask<OptionOutcome> HandleOptionAsync(NbdOption option, byte[] data, CancellationToken ct)
    {
        try
        {
            switch (option)
            {
                case NbdOption.ExportName: return await ExportNameAsync(data, ct).ConfigureAwait(false);
                case NbdOption.Abort:
                    try { await _writer.AckAsync(option, ct).ConfigureAwait(false); }
                    catch (IOException) { /* the client may close without reading the ACK */ }
                    return OptionOutcome.End;
                case NbdOption.List: await ListAsync(data, ct).ConfigureAwait(false); return OptionOutcome.Continue;
                case NbdOption.StartTls: await StartTlsAsync(data, ct).ConfigureAwait(false); return OptionOutcome.Continue;
                case NbdOption.Info:
                case NbdOption.Go: return await InfoOrGoAsync(option, data, ct).ConfigureAwait(false);
                case NbdOption.StructuredReply:
                    if (data.Length != 0) await _writer.ErrorAsync(option, OptionReplyType.ErrInvalid, "STRUCTURED_REPLY takes no data", ct).ConfigureAwait(false);
                    else
                    {
                        _structuredReplies = true;
                        await _writer.AckAsync(option, ct).ConfigureAwait(false);
                    }
                    return OptionOutcome.Continue;
                case NbdOption.ListMetaContext:
                case NbdOption.SetMetaContext: await MetaContextAsync(option, data, ct).ConfigureAwait(false); return OptionOutcome.Continue;
                default:
                    await _writer.ErrorAsync(option, OptionReplyType.ErrUnsup, $"option {(uint)option} is not supported", ct).ConfigureAwait(false);
                    return OptionOutcome.Continue;
            }
        }
        catch (FormatException e)
        {
            if (option == NbdOption.ExportName) throw new NbdProtocolException($"malformed EXPORT_NAME: {e.Message}");
            await _writer.ErrorAsync(option, OptionReplyType.ErrInvalid, e.Message, ct).ConfigureAwait(false);
            return OptionOutcome.Continue;
        }
    }

    private async ValueTask<OptionOutcome> ExportNameAsync(byte[] data, CancellationToken ct)
    {
        var parser = new OptionParser(data, _limits.MaxStringBytes);
        string name = parser.ReadString((uint)data.Length);
        // EXPORT_NAME has no error reply: an unknown name can only be answered by closing.
        var export = _catalog.Find(name) ?? throw new NbdProtocolException($"EXPORT_NAME asked for unknown export '{name}'");
        var reply = new byte[10 + (_noZeroes ? 0 : NbdWireSize.ExportNamePadding)];
        BinaryPrimitives.WriteUInt64BigEndian(reply, (ulong)export.Size);
        BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(8), (ushort)TransmissionFlagsOf(export, _structuredReplies));
        await _stream.WriteAsync(reply, ct).ConfigureAwait(false);
        await _stream.FlushAsync(ct).ConfigureAwait(false);
        Enter(export, name);
        return OptionOutcome.Transmission;
    }

    private async ValueTask ListAsync(byte[] data, CancellationToken ct)
    {
        if (data.Length != 0)
        {
            await _writer.ErrorAsync(NbdOption.List, OptionReplyType.ErrInvalid, "LIST takes no data", ct).ConfigureAwait(false);
            return;
        }
        foreach (var name in _catalog.ListExportNames())
            await _writer.ServerAsync(name, _catalog.Find(name)?.Description, ct).ConfigureAwait(false);
        await _writer.AckAsync(NbdOption.List, ct).ConfigureAwait(false);
    }

    private async ValueTask StartTlsAsync(byte[] data, CancellationToken ct)
    {
        if (_tls is null)
        {
            await _writer.ErrorAsync(NbdOption.StartTls, OptionReplyType.ErrPolicy, "TLS is not configured on this server", ct).ConfigureAwait(false);
            return;
        }
        if (data.Length != 0 || _tlsActive)
        {
            await _writer.ErrorAsync(NbdOption.StartTls, OptionReplyType.ErrInvalid, _tlsActive ? "TLS is already active" : "STARTTLS takes no data", ct).ConfigureAwait(false);
            return;
        }
        // Plaintext sent behind STARTTLS, before our ACK, would otherwise be read as if it came over TLS.
        if (_reader.HasBufferedBytes()) throw new NbdProtocolException("client sent data after STARTTLS before the TLS handshake");
        await _writer.AckAsync(NbdOption.StartTls, ct).ConfigureAwait(false);
        await _reader.CompleteAsync().ConfigureAwait(false);

        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        _stream = ssl;
        try
        {
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = _tls.ServerCertificate,
                ClientCertificateRequired = _tls.ClientCertificateRequired,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            }, ct).ConfigureAwait(false);
        }
        catch (AuthenticationException e)
        {
            throw new NbdProtocolException($"TLS handshake failed: {e.Message}");
        }
        _reader = new WireReader(ssl);
        _writer.Stream = ssl;
        _tlsActive = true;
        // Everything negotiated in plaintext is forgotten (CVE-2021-3716: injected STRUCTURED_REPLY).
        _structuredReplies = false;
        _selected.Clear();
        _contextsExportName = null;
        _log.LogDebug("NBD client {Peer} switched to TLS", _peer);
    }

    private async ValueTask<OptionOutcome> InfoOrGoAsync(NbdOption option, byte[] data, CancellationToken ct)
    {
        var parser = new OptionParser(data, _limits.MaxStringBytes);
        string name = parser.ReadLengthPrefixedString();
        ushort count = parser.ReadUInt16();
        if (parser.Remaining != count * 2) throw new FormatException($"{count} info requests do not match the option length");
        bool wantName = false;
        for (int i = 0; i < count; i++)
        {
            // Unknown info types are ignored, as the spec requires.
            switch ((InfoType)parser.ReadUInt16())
            {
                case InfoType.Name: wantName = true; break;
            }
        }
        var export = _catalog.Find(name);
        if (export is null)
        {
            await _writer.ErrorAsync(option, OptionReplyType.ErrUnknown, $"no export named '{name}'", ct).ConfigureAwait(false);
            return OptionOutcome.Continue;
        }
        await _writer.InfoBlockSizeAsync(option, 1, (uint)PreferredOf(export), (uint)_limits.MaxPayloadBytes, ct).ConfigureAwait(false);
        if (wantName) await _writer.InfoTextAsync(option, InfoType.Name, name, ct).ConfigureAwait(false);
        // The description is sent even unasked (allowed by the spec): nbdinfo --list shows it.
        if (export.Description is { } description)
            await _writer.InfoTextAsync(option, InfoType.Description, description, ct).ConfigureAwait(false);
        await _writer.InfoExportAsync(option, export.Size, TransmissionFlagsOf(export, _structuredReplies), ct).ConfigureAwait(false);
        await _writer.AckAsync(option, ct).ConfigureAwait(false);
        if (option == NbdOption.Info) return OptionOutcome.Continue;
        Enter(export, name);
        return OptionOutcome.Transmission;
    }

    private async ValueTask MetaContextAsync(NbdOption option, byte[] data, CancellationToken ct)
    {
        var parser = new OptionParser(data, _limits.MaxStringBytes);
        string name = parser.ReadLengthPrefixedString();
        uint queryCount = parser.ReadUInt32();
        if (queryCount > parser.Remaining / 4) throw new FormatException($"{queryCount} queries cannot fit in the option");
        var queries = new List<string>((int)queryCount);
        for (uint i = 0; i < queryCount; i++) queries.Add(parser.ReadLengthPrefixedString());
        parser.ExpectEnd();

        if (option == NbdOption.SetMetaContext && !_structuredReplies)
        {
            await _writer.ErrorAsync(option, OptionReplyType.ErrInvalid, "SET_META_CONTEXT needs STRUCTURED_REPLY first", ct).ConfigureAwait(false);
            return;
        }
        var export = _catalog.Find(name);
        if (export is null)
        {
            await _writer.ErrorAsync(option, OptionReplyType.ErrUnknown, $"no export named '{name}'", ct).ConfigureAwait(false);
            return;
        }
        if (option == NbdOption.ListMetaContext)
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var query in queries.Count == 0 ? [""] : queries)
                foreach (var context in export.ListMetaContexts(query))
                    if (names.Add(context)) await _writer.MetaContextAsync(option, 0, context, ct).ConfigureAwait(false);
            await _writer.AckAsync(option, ct).ConfigureAwait(false);
            return;
        }

        _selected.Clear();
        _contextsExportName = name;
        foreach (var query in queries)
        {
            var context = export.ResolveMetaContext(query);
            if (context is null || _selected.Any(s => s.Context.Name == context.Name)) continue;
            if (_selected.Count >= _limits.MaxSelectedMetaContexts)
            {
                _selected.Clear();
                await _writer.ErrorAsync(option, OptionReplyType.ErrTooBig, $"at most {_limits.MaxSelectedMetaContexts} contexts may be selected", ct).ConfigureAwait(false);
                return;
            }
            var selected = new SelectedContext(++_nextContextId, context);
            _selected.Add(selected);
            await _writer.MetaContextAsync(option, selected.Id, context.Name, ct).ConfigureAwait(false);
        }
        await _writer.AckAsync(option, ct).ConfigureAwait(false);
    }

    private void Enter(INbdExport export, string name)
    {
        // Contexts chosen for another export do not carry over to this one.
        var contexts = _contextsExportName == name ? _selected.ToArray() : Array.Empty<SelectedContext>();
        _negotiated = new NegotiatedConnection(_stream, _reader, export, name, _structuredReplies, contexts, _overUnixSocket);
    }

    private static int PreferredOf(INbdExport export) =>
        export.PreferredBlockSize >= 512 && (export.PreferredBlockSize & (export.PreferredBlockSize - 1)) == 0 ? export.PreferredBlockSize : 4096;

    internal static TransmissionFlags TransmissionFlagsOf(INbdExport export, bool structuredReplies)
    {
        var caps = export.Capabilities;
        var flags = TransmissionFlags.HasFlags;
        if ((caps & NbdExportCapabilities.ReadOnly) != 0) flags |= TransmissionFlags.ReadOnly;
        if ((caps & NbdExportCapabilities.Flush) != 0) flags |= TransmissionFlags.SendFlush | TransmissionFlags.SendFua;
        if ((caps & NbdExportCapabilities.Rotational) != 0) flags |= TransmissionFlags.Rotational;
        bool writable = (caps & NbdExportCapabilities.ReadOnly) == 0;
        if (writable && (caps & NbdExportCapabilities.Trim) != 0) flags |= TransmissionFlags.SendTrim;
        if (writable && (caps & NbdExportCapabilities.WriteZeroes) != 0)
        {
            flags |= TransmissionFlags.SendWriteZeroes;
            if ((caps & NbdExportCapabilities.FastZero) != 0) flags |= TransmissionFlags.SendFastZero;
        }
        if (structuredReplies) flags |= TransmissionFlags.SendDf;
        if ((caps & NbdExportCapabilities.MultiConn) != 0) flags |= TransmissionFlags.CanMultiConn;
        if ((caps & NbdExportCapabilities.Cache) != 0) flags |= TransmissionFlags.SendCache;
        return flags;
    }
}
