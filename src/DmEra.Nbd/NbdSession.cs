using DmEra.Nbd.Session;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DmEra.Nbd;

/// <summary>
/// One NBD connection over any <see cref="Stream"/>: handshake, then transmission until the client leaves.
/// The server runs one per accepted socket; tests and fuzzers run it over in-memory streams.
/// </summary>
public sealed class NbdSession
{
    private readonly INbdExportCatalog _catalog;
    private readonly NbdServerLimits _limits;
    private readonly NbdTlsSettings? _tls;
    private readonly ILogger _log;

    public NbdSession(INbdExportCatalog catalog, NbdServerLimits? limits = null, NbdTlsSettings? tls = null, ILogger? logger = null)
    {
        _catalog = catalog ?? throw new ArgumentNullException(nameof(catalog));
        _limits = limits ?? new NbdServerLimits();
        _limits.Validate();
        _tls = tls;
        _log = logger ?? NullLogger.Instance;
    }

    /// <summary>
    /// Serves <paramref name="stream"/> until the client disconnects, sends DISC or ABORT, breaks the protocol,
    /// or <paramref name="cancellationToken"/> fires (requests in flight are cancelled). Never throws for client
    /// behaviour; the stream is disposed on return.
    /// </summary>
    public Task RunAsync(Stream stream, string peer, CancellationToken cancellationToken) =>
        RunAsync(stream, peer, CancellationToken.None, cancellationToken);

    /// <summary>
    /// As <see cref="RunAsync(Stream, string, CancellationToken)"/>, plus a graceful stop: when
    /// <paramref name="drain"/> fires, a handshake in progress is closed and transmission stops reading new
    /// requests but finishes and answers those in flight before closing. <paramref name="negotiatedCallback"/>
    /// runs once the handshake has succeeded (the server's handshake budget ends there).
    /// </summary>
    public async Task RunAsync(Stream stream, string peer, CancellationToken drain, CancellationToken cancellationToken, Action? negotiatedCallback = null)
    {
        var handshake = new Handshake(stream, _catalog, _limits, _tls, _log, peer);
        try
        {
            NegotiatedConnection? negotiated;
            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, drain))
            {
                deadline.CancelAfter(_limits.HandshakeTimeout);
                try
                {
                    negotiated = await handshake.RunAsync(deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (drain.IsCancellationRequested)
                {
                    return;
                }
                catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    _log.LogInformation("NBD client {Peer} did not finish the handshake within {Timeout}; closing", peer, _limits.HandshakeTimeout);
                    return;
                }
            }
            if (negotiated is null) return;
            negotiatedCallback?.Invoke();
            _log.LogDebug("NBD client {Peer} opened export '{Export}' (structured replies: {Structured}, contexts: {Contexts})",
                peer, negotiated.ExportName, negotiated.StructuredReplies, negotiated.Contexts.Count);
            await new Transmission(negotiated, _limits, _log, peer).RunAsync(drain, cancellationToken).ConfigureAwait(false);
        }
        catch (NbdProtocolException e)
        {
            _log.LogWarning("NBD client {Peer} broke the protocol: {Message}; closing", peer, e.Message);
        }
        catch (EndOfStreamException)
        {
            _log.LogDebug("NBD client {Peer} closed the connection during the handshake", peer);
        }
        catch (IOException e)
        {
            _log.LogDebug("NBD client {Peer} connection failed: {Message}", peer, e.Message);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            try { await handshake.CurrentStream.DisposeAsync().ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { }
            if (!ReferenceEquals(handshake.CurrentStream, stream)) await stream.DisposeAsync().ConfigureAwait(false);
        }
    }
}
