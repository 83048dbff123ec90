using System.Numerics;
using DmEra.Engine;
using DmEra.Engine.Backup;
using DmEra.Nbd;

namespace DmEra.Daemon;

/// <summary>
/// <c>VOLUME@backup</c>: a held backup view as a read-only NBD export. Reads are the volume at the view's
/// instant; block status answers for the instant from the held metadata snapshot: <c>x-dm-era:era</c>,
/// <c>x-dm-era:written-since:N</c>, and, when the view was taken with SINCE, exactly one
/// <c>qemu:dirty-bitmap:since-SINCE</c> (bit 0 = written in eras ≥ SINCE up to the instant) for the tools
/// that find a bitmap by that prefix. <c>base:allocation</c> reports a hole only where the origin has one
/// now and the chunk was not overwritten since the instant (a hole then was a hole at the instant, since any
/// write first saves the chunks it covers). A broken or dropped view answers EIO.
/// Its reads are always copied, never sent from the origin file (sendfile), unlike the live export's: sendfile
/// hands the socket references to the origin's page-cache pages, not copies, so a write that lands after the
/// send returned but before the peer read the bytes changes what the peer receives (TCP and Unix sockets
/// alike; BackupViewSendFileTests.A_write_after_a_view_read_was_handed_to_the_socket_...). For the live volume
/// that is a read concurrent with a write; for the view it would be bytes that are not the instant's.
/// </summary>
public sealed class BackupViewExport : INbdExport
{
    public const string Suffix = "@backup";
    public const string DirtyBitmapPrefix = "qemu:dirty-bitmap:";
    private readonly IEraVolume _volume;
    private readonly BackupView _view;
    private readonly INbdMetaContext? _originAllocation;
    private readonly string? _bitmap;

    public BackupViewExport(IEraVolume volume, BackupView view, INbdMetaContext? originAllocation)
    {
        _volume = volume;
        _view = view;
        _originAllocation = originAllocation;
        _bitmap = view.SinceEra is { } since ? BitmapName(since) : null;
        var blockBytes = volume.BlockSizeBytes;
        PreferredBlockSize = BitOperations.IsPow2(blockBytes) && blockBytes <= 32 << 20 ? (int)blockBytes : 4096;
        // The tracking id and era let the backup client check that the export at its --uri is the view it took.
        Description = $"backup view of dm-era volume {volume.Name} at era {view.Era}, tracking id {volume.TrackingId}";
    }

    public static string ExportName(string volume) => volume + Suffix;
    public static string BitmapName(uint since) => $"{DirtyBitmapPrefix}since-{since}";

    public long Size => _view.SizeBytes;
    public NbdExportCapabilities Capabilities => NbdExportCapabilities.ReadOnly | NbdExportCapabilities.MultiConn;
    public int PreferredBlockSize { get; }
    public string? Description { get; }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var read = _view.ReadAsync(offset, buffer);
        return read.IsCompletedSuccessfully ? read : MapAsync(read);
    }

    private static async ValueTask MapAsync(ValueTask operation)
    {
        try
        {
            await operation.ConfigureAwait(false);
        }
        catch (BackupViewBrokenException e)
        {
            throw new NbdException(NbdError.IoError, e.Message, e);
        }
    }

    private void ThrowIfBroken()
    {
        if (_view.BrokenReason is { } reason) throw new NbdException(NbdError.IoError, $"backup view broken: {reason}");
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken) => throw ReadOnly();
    public ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken) => throw ReadOnly();
    public ValueTask WriteZeroesAsync(long offset, long length, NbdZeroFlags flags, CancellationToken cancellationToken) => throw ReadOnly();
    private static NbdException ReadOnly() => new(NbdError.PermissionDenied, "a backup view is read-only");
    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public IEnumerable<string> ListMetaContexts(string query)
    {
        if (NbdMetaContexts.Matches(query, NbdMetaContexts.BaseAllocation)) yield return NbdMetaContexts.BaseAllocation;
        if (NbdMetaContexts.Matches(query, EraVolumeExport.EraContext)) yield return EraVolumeExport.EraContext;
        if (query.StartsWith(EraVolumeExport.WrittenSincePrefix, StringComparison.Ordinal) && ParseEra(query, EraVolumeExport.WrittenSincePrefix) is not null) yield return query;
        else if (NbdMetaContexts.Matches(query, EraVolumeExport.WrittenSincePrefix)) yield return EraVolumeExport.WrittenSincePrefix;
        if (_bitmap is not null && NbdMetaContexts.Matches(query, _bitmap)) yield return _bitmap;
    }

    public INbdMetaContext? ResolveMetaContext(string name)
    {
        if (name == NbdMetaContexts.BaseAllocation) return new AllocationContext(this);
        if (name == EraVolumeExport.EraContext) return new ViewEraContext(name, this, null);
        if (name == _bitmap) return new ViewEraContext(name, this, _view.SinceEra);
        return ParseEra(name, EraVolumeExport.WrittenSincePrefix) is { } era ? new ViewEraContext(name, this, era) : null;
    }

    private static uint? ParseEra(string name, string prefix) =>
        name.StartsWith(prefix, StringComparison.Ordinal) && uint.TryParse(name.AsSpan(prefix.Length), out var era) ? era : null;

    /// <summary>Whole tracking blocks as extents, neighbours with the same flags merged.</summary>
    private sealed class ViewEraContext(string name, BackupViewExport export, uint? writtenSince) : INbdMetaContext
    {
        /// <summary>Blocks asked of the engine per request: 4 GiB at 64 KiB blocks, so a whole small disk is one reply.</summary>
        private const int BlocksPerQuery = 65536;

        public string Name { get; } = name;

        public async ValueTask GetExtentsAsync(long offset, long length, NbdExtentList extents, CancellationToken cancellationToken)
        {
            export.ThrowIfBroken();
            var blockBytes = export._view.BlockBytes;
            var end = Math.Min(offset + length, export.Size);
            var first = (uint)(offset / blockBytes);
            var last = (uint)((end - 1) / blockBytes);
            var count = (int)Math.Min(BlocksPerQuery, last - first + 1L);
            uint[] eras;
            try
            {
                eras = await export._volume.GetViewErasAsync(export._view, first, count).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new NbdException(NbdError.IoError, $"backup view: {e.Message}", e);
            }
            uint Flags(int k) => writtenSince is { } since ? (eras[k] >= since ? 1u : 0u) : eras[k];
            var position = offset;
            for (var i = 0; i < eras.Length && !extents.IsFull;)
            {
                var j = i;
                while (j + 1 < eras.Length && Flags(j + 1) == Flags(i)) j++;
                var runEnd = Math.Min(end, (first + (long)j + 1) * blockBytes);
                extents.Add(runEnd - position, Flags(i));
                position = runEnd;
                i = j + 1;
            }
            export.ThrowIfBroken();
        }
    }

    /// <summary>The origin's holes, minus every chunk overwritten since the instant (those report data).</summary>
    private sealed class AllocationContext(BackupViewExport export) : INbdMetaContext
    {
        public string Name => NbdMetaContexts.BaseAllocation;

        public async ValueTask GetExtentsAsync(long offset, long length, NbdExtentList extents, CancellationToken cancellationToken)
        {
            export.ThrowIfBroken();
            if (export._originAllocation is null)
            {
                extents.Add(Math.Min(length, export.Size - offset), 0);
                return;
            }
            var origin = new NbdExtentList(int.MaxValue, length);
            await export._originAllocation.GetExtentsAsync(offset, length, origin, cancellationToken).ConfigureAwait(false);
            // Asked after the origin: a chunk not saved now was not written before the origin answered.
            var position = offset;
            for (var i = 0; i < origin.Count && !extents.IsFull; i++)
            {
                var (len, flags) = (origin[i].Length, origin[i].Flags);
                if (flags == 0)
                {
                    if (!extents.Add(len, 0)) break;
                    position += len;
                    continue;
                }
                // A hole or zero run: split it where chunks were overwritten (data at the instant, maybe). The
                // stretches between them are answered whole, however many chunks they span.
                var runEnd = Math.Min(position + len, export.Size);
                while (position < runEnd && !extents.IsFull)
                {
                    var savedFrom = export._view.NextSavedByte(position, runEnd);
                    var saved = savedFrom == position;
                    var pieceEnd = saved ? export._view.NextUnsavedByte(position, runEnd) : savedFrom;
                    extents.Add(pieceEnd - position, saved ? 0 : flags);
                    position = pieceEnd;
                }
            }
            export.ThrowIfBroken();
        }
    }
}
