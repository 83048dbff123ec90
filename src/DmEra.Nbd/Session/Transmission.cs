using System.Buffers;
using System.Buffers.Binary;
using DmEra.Nbd.Protocol;
using Microsoft.Extensions.Logging;

namespace DmEra.Nbd.Session;

/// <summary>
/// The transmission phase: one reader loop parses requests and starts each one without waiting for the
/// previous, so replies go out in completion order. Back-pressure: the loop stops reading when
/// <see cref="NbdServerLimits.MaxInFlightRequests"/> requests or
/// <see cref="NbdServerLimits.MaxBufferedBytesPerConnection"/> payload bytes are outstanding.
/// </summary>
internal sealed partial class Transmission
{
    /// <summary>
    /// Over a Unix socket, WRITEs bigger than this start on the thread pool instead of the reader. The client
    /// can only have its send buffer (SO_SNDBUF, 208 KiB by default) in flight beyond what we have read, so a
    /// reader busy with a 1 MiB page-cache write (about 0.2 ms) leaves it blocked in send. Over TCP the client
    /// sends on into our receive window (autotuned to megabytes), so the reader writes inline: the payload is
    /// still in its cache and no thread has to be woken. A 64 KiB write holds the reader about 15 µs.
    /// </summary>
    private const int UnixHandOffWriteBytes = 64 * 1024;

    /// <summary>
    /// READs at least this big run on the connection's <see cref="BulkReadLane"/>; smaller ones (a 4 KiB read is a
    /// few microseconds of copying) stay inline on the reader, where a thread hand-off would cost more than the read.
    /// </summary>
    private const int BulkReadBytes = 64 * 1024;

    private readonly NegotiatedConnection _connection;
    private readonly INbdExport _export;
    private readonly NbdServerLimits _limits;
    private readonly ILogger _log;
    private readonly string _peer;
    private readonly ReplyWriter _replies;
    private readonly SemaphoreSlim _inFlight;
    private readonly ByteBudget _budget;
    private readonly Dictionary<uint, INbdMetaContext> _contexts;
    private readonly bool _structured;
    private CancellationTokenSource _cts = null!;
    /// <summary>The plain socket (no TLS) that a bulk-read lane may send on in blocking calls, or null.</summary>
    private readonly System.Net.Sockets.Socket? _laneSocket;
    private BulkReadLane? _lane;
    /// <summary>The export's file ranges, sent by sendfile on the lane (plain sockets only), or null.</summary>
    private readonly INbdFileRangeSource? _fileRanges;
    private CancellationTokenRegistration _laneAbort;

    public Transmission(NegotiatedConnection connection, NbdServerLimits limits, ILogger log, string peer)
    {
        _connection = connection;
        _export = connection.Export;
        _limits = limits;
        _log = log;
        _peer = peer;
        _structured = connection.StructuredReplies;
        _replies = new ReplyWriter(connection.Stream);
        _inFlight = new SemaphoreSlim(limits.MaxInFlightRequests, limits.MaxInFlightRequests);
        _budget = new ByteBudget(limits.MaxBufferedBytesPerConnection);
        _contexts = connection.Contexts.ToDictionary(c => c.Id, c => c.Context);
        _laneSocket = (connection.Stream as System.Net.Sockets.NetworkStream)?.Socket;
        _fileRanges = _export as INbdFileRangeSource;
    }

    /// <summary>
    /// Serves requests until DISC, EOF, a protocol violation, <paramref name="stopReading"/> (graceful: requests
    /// in flight still finish and are answered) or <paramref name="abort"/> (backend calls are cancelled too);
    /// then waits for requests in flight.
    /// </summary>
    public async Task RunAsync(CancellationToken stopReading, CancellationToken abort)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(abort);
        _cts = cts;
        var opToken = cts.Token;
        using var readCts = CancellationTokenSource.CreateLinkedTokenSource(opToken, stopReading);
        var ct = readCts.Token;
        var header = new byte[NbdWireSize.RequestHeader];
        _connection.Reader.BeforeBlockingRead = UncorkAsync;
        try
        {
            while (true)
            {
                // Replies of requests answered inline ride together until the reader has to wait: for the
                // socket (WireReader.BeforeBlockingRead), an in-flight slot or buffer budget.
                if (!_inFlight.Wait(0))
                {
                    await UncorkAsync(ct).ConfigureAwait(false);
                    await _inFlight.WaitAsync(ct).ConfigureAwait(false);
                }
                NbdRequest? request;
                try
                {
                    // Inside the try: a drain that cancels the cork must give the slot back too, or the
                    // final wait for every slot below never ends and the connection is never closed.
                    await _replies.SetCorkedAsync(true, ct).ConfigureAwait(false);
                    request = await ReadRequestAsync(header, ct).ConfigureAwait(false);
                }
                catch
                {
                    _inFlight.Release();
                    throw;
                }
                if (request is null)
                {
                    _inFlight.Release();
                    break;
                }
                Start(request, opToken);
            }
        }
        catch (EndOfStreamException e)
        {
            // An abrupt disconnect: a half-received request is dropped, nothing of it is written.
            _log.LogDebug("NBD client {Peer} disconnected mid-request: {Message}", _peer, e.Message);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (IOException e)
        {
            _log.LogDebug("NBD client {Peer} connection failed: {Message}", _peer, e.Message);
        }
        finally
        {
            _lane?.Complete();   // it still executes (answers or releases) every request queued to it
            _connection.Reader.BeforeBlockingRead = null;
            try { await UncorkAsync(opToken).ConfigureAwait(false); }
            catch (Exception e) when (e is ReplyFailedException or OperationCanceledException) { }
            // DISC and every other ending: let requests in flight finish (their replies may still go out).
            for (int i = 0; i < _limits.MaxInFlightRequests; i++) await _inFlight.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            // The last replies may wait for a completion batch's flush, which can run after their slots came back.
            try { await _replies.FlushAsync(opToken).ConfigureAwait(false); }
            catch (Exception e) when (e is ReplyFailedException or OperationCanceledException) { }
            _laneAbort.Dispose();
        }
    }

    /// <summary>Reads the next request with its payload; null at a clean end (DISC or EOF between requests).</summary>
    private async ValueTask<NbdRequest?> ReadRequestAsync(byte[] header, CancellationToken ct)
    {
        while (true)
        {
            if (!await _connection.Reader.ReadExactAsync(header, ct).ConfigureAwait(false)) return null;
            if (BinaryPrimitives.ReadUInt32BigEndian(header) != NbdMagic.Request)
                throw new NbdProtocolException($"bad request magic 0x{BinaryPrimitives.ReadUInt32BigEndian(header):x8}");
            var request = new NbdRequest
            {
                Flags = (CommandFlags)BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(4)),
                Command = (NbdCommand)BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(6)),
                Cookie = BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8)),
                Offset = BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(16)),
                Length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(24)),
            };
            if (request.Command == NbdCommand.Disc) return null;

            if (request.Command == NbdCommand.Write)
            {
                if (request.Length > (uint)_limits.MaxPayloadBytes)
                {
                    // Never allocate from this length. Skip a bounded payload to stay in sync, else give up.
                    if (request.Length > _limits.MaxSkippedWriteBytes)
                        throw new NbdProtocolException($"WRITE payload of {request.Length} bytes is too large to skip");
                    await _connection.Reader.SkipAsync(request.Length, ct).ConfigureAwait(false);
                    await SendErrorAsync(request, NbdError.InvalidArgument, $"WRITE of {request.Length} bytes exceeds the {_limits.MaxPayloadBytes}-byte maximum", ct).ConfigureAwait(false);
                    continue;
                }
                await AcquireBudgetAsync(request.Length, ct).ConfigureAwait(false);
                request.BudgetBytes = request.Length;
                request.Payload = ArrayPool<byte>.Shared.Rent((int)request.Length);
                try
                {
                    await _connection.Reader.ReadRequiredAsync(request.Payload.AsMemory(0, (int)request.Length), ct).ConfigureAwait(false);
                }
                catch
                {
                    Release(request);
                    throw;
                }
            }
            else if (request.Command == NbdCommand.Read && request.Length <= (uint)_limits.MaxPayloadBytes)
            {
                await AcquireBudgetAsync(request.Length, ct).ConfigureAwait(false);
                request.BudgetBytes = request.Length;
            }
            return request;
        }
    }

    private ValueTask UncorkAsync(CancellationToken ct) => _replies.SetCorkedAsync(false, ct);

    private async ValueTask AcquireBudgetAsync(long bytes, CancellationToken ct)
    {
        var wait = _budget.AcquireAsync(bytes, ct);
        if (!wait.IsCompleted) await UncorkAsync(ct).ConfigureAwait(false);
        await wait.ConfigureAwait(false);
    }

    private void Start(NbdRequest request, CancellationToken ct)
    {
        if (request.Command == NbdCommand.Read && request.Length >= BulkReadBytes && _laneSocket is { } socket)
        {
            if (_lane is null)
            {
                _lane = new BulkReadLane(r => _ = ExecuteAsync(r, ct), _peer);
                // An abort must not wait for a blocking send to a peer that stopped reading: shutting the
                // socket down fails that send (the connection is going away anyway).
                _laneAbort = ct.Register(static s =>
                {
                    try { ((System.Net.Sockets.Socket)s!).Shutdown(System.Net.Sockets.SocketShutdown.Both); }
                    catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException) { }
                }, socket);
            }
            _lane.Post(request);
            return;
        }
        if (_connection.OverUnixSocket && request.Command == NbdCommand.Write && request.Length > UnixHandOffWriteBytes)
            ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.Self.ExecuteAsync(s.Request, s.Ct), (Self: this, Request: request, Ct: ct), preferLocal: false);
        else
            _ = ExecuteAsync(request, ct);
    }

    private async Task ExecuteAsync(NbdRequest request, CancellationToken ct)
    {
        try
        {
            var (error, message) = RequestValidator.Check(request, _export, _structured, _contexts.Count, _limits.MaxPayloadBytes);
            if (error != NbdError.None)
            {
                await SendErrorAsync(request, error, message!, ct).ConfigureAwait(false);
                return;
            }
            try
            {
                await DispatchAsync(request, ct).ConfigureAwait(false);
            }
            catch (NbdException e)
            {
                await SendErrorAsync(request, e.Error, e.Message, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException && e is not ReplyFailedException)
            {
                _log.LogWarning(e, "NBD export '{Export}' failed {Command} at {Offset}+{Length} for {Peer}",
                    _connection.ExportName, request.Command, request.Offset, request.Length, _peer);
                await SendErrorAsync(request, NbdError.IoError, $"{request.Command} failed: {e.Message}", ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ReplyFailedException)
        {
            // The connection is going away; the reader loop has stopped or will stop.
            _cts.Cancel();
        }
        catch (Exception e)
        {
            _log.LogError(e, "NBD request handling failed for {Peer}; closing the connection", _peer);
            _cts.Cancel();
        }
        finally
        {
            Release(request);
            _inFlight.Release();
        }
    }

    private ValueTask DispatchAsync(NbdRequest r, CancellationToken ct)
    {
        long offset = (long)r.Offset;
        switch (r.Command)
        {
            case NbdCommand.Read: return ReadAsync(r, ct);
            case NbdCommand.Write: return ThenOkAsync(r, r.Length == 0 ? default : _export.WriteAsync(offset, r.Payload.AsMemory(0, (int)r.Length), r.Fua, ct), ct);
            case NbdCommand.Flush: return ThenOkAsync(r, _export.FlushAsync(ct), ct);
            case NbdCommand.Trim: return ThenOkAsync(r, r.Length == 0 ? default : _export.TrimAsync(offset, r.Length, r.Fua, ct), ct);
            case NbdCommand.WriteZeroes:
                var zf = (r.Fua ? NbdZeroFlags.Fua : 0)
                    | ((r.Flags & CommandFlags.NoHole) != 0 ? NbdZeroFlags.NoHole : 0)
                    | ((r.Flags & CommandFlags.FastZero) != 0 ? NbdZeroFlags.FastZero : 0);
                return ThenOkAsync(r, r.Length == 0 ? default : _export.WriteZeroesAsync(offset, r.Length, zf, ct), ct);
            case NbdCommand.Cache:
                bool canCache = (_export.Capabilities & NbdExportCapabilities.Cache) != 0 && r.Length != 0;
                return ThenOkAsync(r, canCache ? _export.CacheAsync(offset, r.Length, ct) : default, ct);
            case NbdCommand.BlockStatus: return BlockStatusAsync(r, ct);
            default: throw new InvalidOperationException($"validated command {r.Command} has no handler");
        }
    }

    private async ValueTask ThenOkAsync(NbdRequest r, ValueTask operation, CancellationToken ct)
    {
        await operation.ConfigureAwait(false);
        await _replies.SimpleAsync(r.Cookie, NbdError.None, ct).ConfigureAwait(false);
    }

    private ValueTask SendErrorAsync(NbdRequest r, NbdError error, string message, CancellationToken ct)
    {
        _log.LogDebug("NBD {Command} from {Peer} fails with {Error}: {Message}", r.Command, _peer, error, message);
        // After structured replies are negotiated a READ must never get a simple reply; errors carry text.
        return _structured
            ? _replies.ErrorChunkAsync(r.Cookie, error, message, ct)
            : _replies.SimpleAsync(r.Cookie, error, ct);
    }

    private void Release(NbdRequest request)
    {
        if (request.Payload is { } payload)
        {
            request.Payload = null;
            ArrayPool<byte>.Shared.Return(payload);
        }
        _budget.Release(request.BudgetBytes);
        request.BudgetBytes = 0;
    }
}
