using DmEra.Engine.Tracking;

namespace DmEra.Engine;

/// <summary>
/// One dm-era volume as a protocol server sees it: asynchronous, thread-safe, no Akka types. The promise:
/// a write (trim, write-zeroes) to a block not yet written in the current era reaches the origin only
/// after a metadata commit marking that block is durable on the metadata device. A request that
/// completes successfully is never lost from the tracking by a crash afterwards.
/// Errors: <see cref="VolumeFailedException"/> (EIO) once metadata has failed (writes only; reads go on),
/// <see cref="VolumeStoppingException"/> (ESHUTDOWN) after stop, <see cref="ArgumentOutOfRangeException"/>
/// for a range outside the volume, and the origin's own <see cref="IOException"/>s.
/// </summary>
public interface IEraVolume : IAsyncDisposable
{
    string Name { get; }
    long SizeBytes { get; }
    uint BlockSizeSectors { get; }
    long BlockSizeBytes { get; }
    /// <summary>Tracking blocks, a partial last block included.</summary>
    uint NrBlocks { get; }
    VolumeState State { get; }
    uint CurrentEra { get; }
    /// <summary>The tracking history's identity, 32 lowercase hex digits (the superblock uuid).</summary>
    string TrackingId { get; }

    ValueTask ReadAsync(long offset, Memory<byte> buffer);
    /// <summary>With <paramref name="fua"/>, the origin is fdatasync'ed before the call completes.</summary>
    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua = false);
    ValueTask TrimAsync(long offset, long length, bool fua = false);
    ValueTask WriteZeroesAsync(long offset, long length, bool fua = false);
    /// <summary>Makes every completed write durable on the origin.</summary>
    ValueTask FlushAsync();

    /// <summary>
    /// Completes once every write answered before the call that overlaps the range is on the origin (written
    /// back after its commit): what asks the origin directly, such as base:allocation's holes, then sees it.
    /// </summary>
    Task OnOriginAsync(long offset, long length);

    /// <summary>The era each block of [firstBlock, firstBlock + count) was last written in; 0 = not since formatting (or digested era 0).</summary>
    Task<uint[]> GetBlockErasAsync(uint firstBlock, int count);
    /// <summary>Whether each block was written in era <paramref name="era"/> or later (era_invalidate's inclusive rule, plus the current writeset).</summary>
    Task<bool[]> GetWrittenSinceAsync(uint era, uint firstBlock, int count);

    /// <summary>The kernel's <c>checkpoint</c>; returns the new current era.</summary>
    Task<uint> CheckpointAsync();
    /// <summary>The kernel's <c>take_metadata_snap</c>; returns the held root.</summary>
    Task<long> TakeMetadataSnapAsync();
    Task DropMetadataSnapAsync();
    /// <summary>The held backup view, or null.</summary>
    Backup.BackupView? BackupView { get; }
    /// <summary>
    /// <c>take_backup_snap</c>: checkpoint + metadata snapshot at one instant, then copy-before-write into a
    /// saved-copy file at <paramref name="storePath"/> of at most <paramref name="limitBytes"/>. The caller holds
    /// writes while it runs (the instant is where no write is in flight).
    /// </summary>
    Task<Backup.BackupView> TakeBackupSnapAsync(uint? sinceEra, string storePath, long limitBytes, Action<string>? onBroken = null);
    Task DropBackupSnapAsync();
    /// <summary>The era of each block as of the view's instant.</summary>
    Task<uint[]> GetViewErasAsync(Backup.BackupView view, uint firstBlock, int count);
    /// <summary>Cleans up after a view held when the volume last stopped; returns what was done, or null.</summary>
    Task<string?> DiscardStaleBackupViewAsync(string storePath);
    /// <summary><c>8 used/total era held|-</c>, or <c>Fail</c> after a metadata failure.</summary>
    Task<string> StatusAsync();
    /// <summary>A device-mapper message, case-insensitive; unknown ones throw the kernel's <c>unsupported message '&lt;x&gt;'</c>.</summary>
    Task SendMessageAsync(string message);

    /// <summary>
    /// Holds new writes (reads go on) and completes when no request is in flight: the instant of a group
    /// checkpoint. Pair with <see cref="ReleaseWrites"/>, also when cancelled.
    /// </summary>
    Task HoldWritesAsync(CancellationToken cancellationToken);
    void ReleaseWrites();

    /// <summary>postsuspend: refuse new requests, finish in-flight ones, archive, drain the digest, commit, close both devices.</summary>
    Task StopAsync();
}
