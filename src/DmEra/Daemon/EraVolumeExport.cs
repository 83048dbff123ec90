using System.Numerics;
using DmEra.Engine;
using DmEra.Engine.Origin;
using DmEra.Nbd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DmEra.Daemon;

/// <summary>
/// An era volume as an NBD export: I/O goes to the engine (which keeps the tracking promise and counts and
/// holds requests at its one gate), errors mapped to NBD's; block status offers the origin's
/// <c>base:allocation</c> and two era contexts no other NBD server has: <c>x-dm-era:written-since:N</c>
/// (flag 1 = written in era ≥ N, era_invalidate's set plus the current era's writes) and <c>x-dm-era:era</c>
/// (flags = the era a block was last written in).
/// </summary>
public sealed class EraVolumeExport : INbdExport, INbdFileRangeSource
{
    public const string EraContext = "x-dm-era:era";
    public const string WrittenSincePrefix = "x-dm-era:written-since:";
    private readonly ServedVolume _served;
    private readonly IEraVolume _volume;
    private readonly INbdMetaContext? _allocation;
    private readonly OriginReadahead? _readahead;
    private readonly ILogger _log;

    public EraVolumeExport(ServedVolume served, INbdMetaContext? allocation = null, OriginReadahead? readahead = null, ILogger? log = null)
    {
        _served = served;
        _volume = served.Volume;
        _allocation = allocation;
        _readahead = readahead;
        _log = log ?? NullLogger.Instance;
        var blockBytes = _volume.BlockSizeBytes;
        PreferredBlockSize = BitOperations.IsPow2(blockBytes) && blockBytes <= 32 << 20 ? (int)blockBytes : 4096;
        Capabilities = NbdExportCapabilities.Flush | NbdExportCapabilities.MultiConn |
                       (readahead is null ? 0 : NbdExportCapabilities.Cache) |
                       (served.Spec.ReadOnly ? NbdExportCapabilities.ReadOnly : NbdExportCapabilities.Trim | NbdExportCapabilities.WriteZeroes);
        // The tracking id lets a backup client tell this volume's history from a reset or another volume's.
        Description = $"dm-era volume {served.Spec.Name}: {_volume.BlockSizeSectors}-sector tracking blocks" +
                      (_volume is EraVolume era ? $", tracking id {era.TrackingId}" : "");
    }

    public long Size => _volume.SizeBytes;
    public NbdExportCapabilities Capabilities { get; }
    public int PreferredBlockSize { get; }
    public string? Description { get; }

    // The export only maps errors: the engine's gate counts and holds requests. Each call maps what the
    // volume throws at once (Map) or later (Mapped), in the one place below.
    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try { return Mapped(_volume.ReadAsync(offset, buffer)); }
        catch (Exception e) when (IsMapped(e)) { throw Map(e); }
    }

    /// <summary>
    /// A bulk read sent from the origin file (sendfile), inside the volume's gate until the send is done; null
    /// when the origin is not a file or an answered write to the range is not on it yet (the read then goes
    /// through <see cref="ReadAsync"/>, which waits for it). A stopping volume refuses as a read does.
    /// </summary>
    public NbdFileRange? TryLeaseFileRange(long offset, int length)
    {
        if (_volume is not EraVolume era) return null;
        try { return OriginLeaseRange.Of(era.TryLeaseOriginRange(offset, length)); }
        catch (Exception e) when (IsMapped(e)) { throw Map(e); }
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken)
    {
        try { return Mapped(_volume.WriteAsync(offset, data, fua)); }
        catch (Exception e) when (IsMapped(e)) { throw Map(e); }
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        try { return Mapped(_volume.FlushAsync()); }
        catch (Exception e) when (IsMapped(e)) { throw Map(e); }
    }

    public ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken)
    {
        try { return Mapped(_volume.TrimAsync(offset, length, fua)); }
        catch (Exception e) when (IsMapped(e)) { throw Map(e); }
    }

    public ValueTask WriteZeroesAsync(long offset, long length, NbdZeroFlags flags, CancellationToken cancellationToken)
    {
        try { return Mapped(_volume.WriteZeroesAsync(offset, length, (flags & NbdZeroFlags.Fua) != 0)); }
        catch (Exception e) when (IsMapped(e)) { throw Map(e); }
    }

    private ValueTask Mapped(ValueTask operation) => operation.IsCompletedSuccessfully ? operation : MapAsync(operation);

    private async ValueTask MapAsync(ValueTask operation)
    {
        try { await operation.ConfigureAwait(false); }
        catch (Exception e) when (IsMapped(e)) { throw Map(e); }
    }

    private static bool IsMapped(Exception e) => e is VolumeStoppingException or VolumeFailedException or OriginSyncFailedException;

    /// <summary>
    /// A stopping volume answers ESHUTDOWN, as the spec asks of a server going away. A failed volume's
    /// refusal is EIO to the client, the cause logged once and then counted (an export error would be logged
    /// with its stack trace per request).
    /// </summary>
    private NbdException Map(Exception e)
    {
        if (e is VolumeStoppingException) return new NbdException(NbdError.Shutdown, e.Message, e);
        _served.RefusedWrites.Record(e is OriginSyncFailedException ? "flushes" : "writes", e, _log, _served.Spec.Name);
        return new NbdException(NbdError.IoError, e.Message, e);
    }

    /// <summary>NBD_CMD_CACHE: a readahead hint for the range (the spec lets a server treat it as advice).</summary>
    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken)
    {
        _readahead?.WillNeed(offset, Math.Min(length, _volume.SizeBytes - offset));
        return ValueTask.CompletedTask;
    }

    public IEnumerable<string> ListMetaContexts(string query)
    {
        if (_allocation is not null && NbdMetaContexts.Matches(query, NbdMetaContexts.BaseAllocation)) yield return NbdMetaContexts.BaseAllocation;
        if (NbdMetaContexts.Matches(query, EraContext)) yield return EraContext;
        if (query.StartsWith(WrittenSincePrefix, StringComparison.Ordinal) && ParseEra(query) is not null) yield return query;
        else if (NbdMetaContexts.Matches(query, WrittenSincePrefix)) yield return WrittenSincePrefix;
    }

    public INbdMetaContext? ResolveMetaContext(string name)
    {
        if (name == NbdMetaContexts.BaseAllocation) return _allocation is null ? null : new AfterWriteBack(_allocation, _volume);
        if (name == EraContext) return new EraStatusContext(name, this, writtenSince: null);
        return ParseEra(name) is { } era ? new EraStatusContext(name, this, era) : null;
    }

    private static uint? ParseEra(string name) =>
        name.StartsWith(WrittenSincePrefix, StringComparison.Ordinal) && uint.TryParse(name.AsSpan(WrittenSincePrefix.Length), out var era)
            ? era
            : null;

    /// <summary>
    /// The origin's holes, asked only once the writes answered before the query are on the origin: a write
    /// answered at once (write-back) into a hole is data to the client that wrote it, not a hole.
    /// </summary>
    private sealed class AfterWriteBack(INbdMetaContext origin, IEraVolume volume) : INbdMetaContext
    {
        public string Name => origin.Name;

        public async ValueTask GetExtentsAsync(long offset, long length, NbdExtentList extents, CancellationToken cancellationToken)
        {
            await volume.OnOriginAsync(offset, length).WaitAsync(cancellationToken).ConfigureAwait(false);
            await origin.GetExtentsAsync(offset, length, extents, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Reports whole tracking blocks as extents, merging neighbours with the same flags.</summary>
    private sealed class EraStatusContext(string name, EraVolumeExport export, uint? writtenSince) : INbdMetaContext
    {
        /// <summary>Blocks asked of the engine per query: bounds the arrays a single block-status request allocates.</summary>
        private const int BlocksPerQuery = 65536;

        public string Name { get; } = name;

        public async ValueTask GetExtentsAsync(long offset, long length, NbdExtentList extents, CancellationToken cancellationToken)
        {
            var volume = export._volume;
            var blockBytes = volume.BlockSizeBytes;
            var end = Math.Min(offset + length, volume.SizeBytes);
            var first = (uint)(offset / blockBytes);
            var last = (uint)((end - 1) / blockBytes);
            var position = offset;
            var count = (int)Math.Min(BlocksPerQuery, last - first + 1L);
            // Either answer is read in place: no second array of `count` flags per request.
            bool[]? changed = null;
            uint[]? eras = null;
            if (writtenSince is { } era) changed = await volume.GetWrittenSinceAsync(era, first, count).ConfigureAwait(false);
            else eras = await volume.GetBlockErasAsync(first, count).ConfigureAwait(false);
            uint Flags(int k) => changed is not null ? (changed[k] ? 1u : 0u) : eras![k];
            var n = changed?.Length ?? eras!.Length;
            var i = 0;
            while (i < n && !extents.IsFull)
            {
                var j = i;
                while (j + 1 < n && Flags(j + 1) == Flags(i)) j++;
                var runEnd = Math.Min(end, (first + (long)j + 1) * blockBytes);
                extents.Add(runEnd - position, Flags(i));
                position = runEnd;
                i = j + 1;
            }
        }
    }
}
