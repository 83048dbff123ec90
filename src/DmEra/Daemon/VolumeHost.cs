using System.Text.Json;
using Akka.Actor;
using DmEra.Admin;
using DmEra.Engine;
using DmEra.Engine.Backup;
using DmEra.Engine.Origin;
using DmEra.Storage.Devices;
using DmEra.Metadata;
using DmEra.Metadata.Era;
using DmEra.Metadata.PersistentData;
using DmEra.Storage;
using DmEra.Nbd;
using Microsoft.Extensions.Logging;

namespace DmEra.Daemon;

/// <summary>
/// The daemon's volumes: each started on its own actor tree (the kernel's ctr + preresume), a volume
/// that cannot start reported and skipped while the others serve, and all of them stopped with
/// postsuspend semantics at shutdown. Admin commands land here and become messages to the volumes.
/// </summary>
public sealed class VolumeHost : IAdminTarget, IAsyncDisposable
{
    private readonly Dictionary<string, ServedVolume> _volumes;
    private readonly SemaphoreSlim _groupLock = new(1, 1);
    private readonly ILogger _log;
    private NbdExportCatalog? _exports;

    private VolumeHost(Dictionary<string, ServedVolume> volumes, IReadOnlyList<string> failures, ILogger log)
    {
        _volumes = volumes;
        Failures = failures;
        _log = log;
    }

    public IReadOnlyList<string> Failures { get; }
    /// <summary>One group operation (group checkpoint, take_backup_snap) holds writes at a time, the fleet's included.</summary>
    internal SemaphoreSlim GroupLock => _groupLock;
    public IReadOnlyCollection<ServedVolume> Served => _volumes.Values;
    public IReadOnlyList<string> VolumeNames => _volumes.Keys.Order(StringComparer.Ordinal).ToList();

    /// <summary>The saved-copy limit of a volume that sets none: this fraction of its origin (dmera.daemon.backup-limit-fraction).</summary>
    public double BackupLimitFraction { get; set; } = 0.25;

    /// <summary>Where backup views appear as <c>VOLUME@backup</c> while they are held.</summary>
    public void AttachExports(NbdExportCatalog exports) => _exports = exports;

    public static async Task<VolumeHost> StartAsync(ActorSystem system, IReadOnlyList<VolumeSpec> specs, InlineWriteSettings inlineWrites,
        ILogger log, CancellationToken ct)
    {
        var volumes = new Dictionary<string, ServedVolume>(StringComparer.Ordinal);
        var failures = new List<string>();
        foreach (var spec in specs)
        {
            if (volumes.ContainsKey(spec.Name))
            {
                failures.Add($"volume {spec.Name}: defined twice");
                continue;
            }
            try
            {
                var (volume, events) = await StartOneAsync(system, spec, inlineWrites, log, ct).ConfigureAwait(false);
                volumes.Add(spec.Name, new ServedVolume(spec, volume));
                foreach (var e in events) log.LogInformation("volume {Name}: {Event}", spec.Name, e);
                try
                {
                    if (await volume.DiscardStaleBackupViewAsync(spec.ResolvedBackupStorePath).ConfigureAwait(false) is { } cleaned)
                        log.LogWarning("volume {Name}: {Cleaned}", spec.Name, cleaned);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or EraMessageException)
                {
                    log.LogWarning("volume {Name}: could not clean up after an old backup view: {Message}", spec.Name, e.Message);
                }
                var status = await volume.StatusAsync().ConfigureAwait(false);
                log.LogInformation("volume {Name}: {Size} bytes from {Origin}, {Blocks} blocks of {BlockSize} sectors, metadata {Metadata}, status {Status}{ReadOnly}",
                    spec.Name, volume.SizeBytes, spec.OriginPath, volume.NrBlocks, volume.BlockSizeSectors, spec.MetadataPath, status,
                    spec.ReadOnly ? " (read-only)" : "");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                var message = $"volume {spec.Name}: {e.Message}";
                failures.Add(message);
                log.LogError("{Message}", message);
            }
        }
        return new VolumeHost(volumes, failures, log);
    }

    private static async Task<(IEraVolume Volume, List<string> Events)> StartOneAsync(ActorSystem system, VolumeSpec spec,
        InlineWriteSettings inlineWrites, ILogger log, CancellationToken ct)
    {
        CreateIfAsked(spec.OriginPath, spec.CreateOriginBytes);
        CreateIfAsked(spec.MetadataPath, spec.CreateMetadataBytes);
        if (!File.Exists(spec.OriginPath) && !Directory.Exists(spec.OriginPath) && !IsDevice(spec.OriginPath))
            throw new ConfigurationException($"origin {spec.OriginPath} does not exist");
        var metadata = OpenForWriting("metadata", spec.MetadataPath, () => MetadataDevice.Open(spec.MetadataPath, writable: true, DeviceLock.Exclusive));
        IBlockDevice origin;
        List<string> events;
        uint? uncleanEra;
        try
        {
            origin = OpenForWriting("origin", spec.OriginPath, () => FileDevice.Open(spec.OriginPath, inlineWrites));
        }
        catch
        {
            metadata.Dispose();
            throw;
        }
        try
        {
            events = VolumePreflight.Check(spec, metadata, origin.SizeBytes);
            uncleanEra = UncleanStop.EraLeftOpen(metadata);
            var allocated = metadata.AllocateHoles();
            if (allocated > 0)
                log.LogInformation("volume {Name}: allocated {Bytes} bytes of holes in metadata {Metadata}, so that commits only overwrite",
                    spec.Name, allocated, spec.MetadataPath);
        }
        catch
        {
            metadata.Dispose();
            origin.Dispose();
            throw;
        }
        MetadataDevice? intentLog;
        try
        {
            intentLog = IntentLogFile.Open(spec.MetadataPath, spec.IntentLogBytes, out var directRefusal);
            if (directRefusal is not null)
                log.LogWarning("volume {Name}: intent log {Log}: {Refusal}; appends are written and fdatasynced instead",
                    spec.Name, IntentLogFile.PathFor(spec.MetadataPath), directRefusal);
        }
        catch
        {
            metadata.Dispose();
            origin.Dispose();
            throw;
        }
        var volume = await EraVolume.StartAsync(system, spec.Name, metadata, origin, spec.BlockSizeSectors, intentLog, ct).ConfigureAwait(false);
        if (uncleanEra is { } era)
            log.LogWarning("volume {Name}: recovered after an unclean stop: the writeset of era {Era}, committed before the stop, is archived; era {Current} begins",
                spec.Name, era, volume.CurrentEra);
        return (volume, events);
    }

    /// <summary>Opens a volume's file read-write; refused permission says so in one line instead of .NET's "Access to the path ... is denied".</summary>
    private static T OpenForWriting<T>(string role, string path, Func<T> open)
    {
        try
        {
            return open();
        }
        catch (UnauthorizedAccessException)
        {
            throw new ConfigurationException($"{role} {path}: permission denied: dmera opens it for writing, also for a --read-only export (check its mode, owner and immutable flag)");
        }
    }

    private static void CreateIfAsked(string path, long bytes)
    {
        if (bytes <= 0 || File.Exists(path)) return;
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        using var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        f.SetLength(bytes);   // sparse; a metadata file is allocated once opened (AllocateHoles), an origin stays sparse
    }

    private static bool IsDevice(string path) => path.StartsWith("/dev/", StringComparison.Ordinal) && Path.Exists(path);

    public ServedVolume Get(string name) => _volumes.TryGetValue(name, out var v)
        ? v
        : throw new AdminCommandException($"unknown volume '{name}' (serving: {string.Join(", ", VolumeNames)})");

    public async Task<IReadOnlyList<string>> MessageAsync(string volume, string message, CancellationToken ct)
    {
        var words = message.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (words.Length > 0 && words[0].Equals("take_backup_snap", StringComparison.OrdinalIgnoreCase))
            return await TakeBackupAsync([volume], words, ct).ConfigureAwait(false);
        if (words is [var drop] && drop.Equals("drop_backup_snap", StringComparison.OrdinalIgnoreCase))
        {
            await DropBackupAsync(Get(volume), ct).ConfigureAwait(false);
            return [];
        }
        var v = Get(volume).Volume;
        try
        {
            switch (message.ToLowerInvariant())
            {
                case "checkpoint":
                    var era = await v.CheckpointAsync().WaitAsync(ct).ConfigureAwait(false);
                    _log.LogInformation("volume {Name}: checkpoint: era {Era} begins", volume, era);
                    return [$"era {era}"];
                case "take_metadata_snap":
                    var root = await v.TakeMetadataSnapAsync().WaitAsync(ct).ConfigureAwait(false);
                    _log.LogInformation("volume {Name}: take_metadata_snap: held root {Root}, era {Era} begins", volume, root, v.CurrentEra);
                    return [$"held root {root}"];
                default:
                    // drop_metadata_snap, and anything else for the kernel's own refusal text.
                    await v.SendMessageAsync(message).WaitAsync(ct).ConfigureAwait(false);
                    _log.LogInformation("volume {Name}: {Message}", volume, message.Trim());
                    return [];
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _log.LogWarning("volume {Name}: message '{Message}' refused: {Reason}", volume, message.Trim(), e.Message);
            throw;
        }
    }

    /// <summary>
    /// Closes the write gates of every volume in the group (in name order, so two groups cannot deadlock),
    /// waits for their writes in flight, checkpoints them all, then opens the gates: no write lands in the
    /// new era on one disk while another disk is still in the old one.
    /// </summary>
    public async Task<IReadOnlyList<string>> GroupCheckpointAsync(IReadOnlyList<string> names, CancellationToken ct)
    {
        if (names.Count == 0) throw new AdminCommandException("group-checkpoint needs at least one volume");
        var group = names.Order(StringComparer.Ordinal).Select(Get).ToList();
        await _groupLock.WaitAsync(ct).ConfigureAwait(false);
        var closed = new List<ServedVolume>();
        try
        {
            foreach (var v in group)
            {
                // Recorded before the wait: a cancelled drain must still release this volume's writes below.
                closed.Add(v);
                await v.Volume.HoldWritesAsync(ct).ConfigureAwait(false);
            }
            var eras = await Task.WhenAll(group.Select(v => v.Volume.CheckpointAsync())).WaitAsync(ct).ConfigureAwait(false);
            _log.LogInformation("group checkpoint: {Volumes}", string.Join(", ", group.Select((v, i) => $"{v.Spec.Name} era {eras[i]}")));
            return group.Select((v, i) => $"{v.Spec.Name} era {eras[i]}").ToList();
        }
        finally
        {
            foreach (var v in closed) v.Volume.ReleaseWrites();
            _groupLock.Release();
        }
    }

    /// <summary>
    /// take_backup_snap [SINCE] on one volume or a group: under the group checkpoint's write hold (gates closed in
    /// name order, writes in flight drained) each volume takes its view; then the exports appear and the gates
    /// open. Writes acknowledged before the reply are in the views, later ones are not. All or none: a volume
    /// that refuses drops the views the others took.
    /// </summary>
    public async Task<IReadOnlyList<string>> TakeBackupAsync(IReadOnlyList<string> names, string[] words, CancellationToken ct)
    {
        if (names.Count == 0) throw new AdminCommandException("take_backup_snap needs at least one volume");
        var since = ParseSince(words);
        var group = names.Order(StringComparer.Ordinal).Select(Get).ToList();
        await _groupLock.WaitAsync(ct).ConfigureAwait(false);
        var closed = new List<ServedVolume>();
        IReadOnlyList<(ServedVolume Served, BackupView View)> taken;
        try
        {
            foreach (var v in group)
            {
                closed.Add(v);
                await v.Volume.HoldWritesAsync(ct).ConfigureAwait(false);
            }
            try
            {
                taken = await TakeViewsHeldAsync(group, since, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (group.Count > 1 && e is not OperationCanceledException)
            {
                throw new AdminCommandException($"group take_backup_snap failed, no view kept: {e.Message}");
            }
        }
        finally
        {
            foreach (var v in closed) v.Volume.ReleaseWrites();
            _groupLock.Release();
        }
        return taken.Select(t => (group.Count > 1 ? t.Served.Spec.Name + " " : "") + DescribeView(t.Served, t.View)).ToList();
    }

    /// <summary>The SINCE of <c>take_backup_snap [SINCE]</c> (words[0] is the message itself).</summary>
    public static uint? ParseSince(string[] words) => words.Length switch
    {
        1 => null,
        2 when uint.TryParse(words[1], out var e) => e,
        _ => throw new AdminCommandException("usage: take_backup_snap [SINCE_ERA]"),
    };

    /// <summary>
    /// The second half of a take, for a caller that already holds the writes of every volume in
    /// <paramref name="group"/> (this daemon's group take, or a fleet member's hold): each volume takes its view
    /// at this instant, then the exports appear. All or none: on any failure the views taken are dropped and
    /// the first failure is thrown. A take its caller gave up on is dropped once it exists.
    /// </summary>
    public async Task<IReadOnlyList<(ServedVolume Served, BackupView View)>> TakeViewsHeldAsync(IReadOnlyList<ServedVolume> group, uint? since, CancellationToken ct)
    {
        var taken = new List<(ServedVolume Served, BackupView View)>();
        try
        {
            foreach (var v in group)
            {
                var name = v.Spec.Name;
                var limit = v.Spec.BackupLimitBytes > 0 ? v.Spec.BackupLimitBytes : Math.Max(v.Volume.BlockSizeBytes, (long)(v.Volume.SizeBytes * BackupLimitFraction));
                var taking = v.Volume.TakeBackupSnapAsync(since, v.Spec.ResolvedBackupStorePath, limit,
                    reason => _log.LogWarning("volume {Name}: backup view broken: {Reason}; its readers get errors, the volume's writes go on", name, reason));
                try
                {
                    taken.Add((v, await taking.WaitAsync(ct).ConfigureAwait(false)));
                }
                catch (OperationCanceledException)
                {
                    DropWhenTaken(v, taking);
                    throw;
                }
            }
        }
        catch
        {
            foreach (var (v, view) in taken) await DropViewAsync(v, view, "a half-taken group view").ConfigureAwait(false);
            throw;
        }
        foreach (var (v, view) in taken)
        {
            var export = BackupViewExport.ExportName(v.Spec.Name);
            _exports?.Remove(export);
            _exports?.Add(export, new BackupViewExport(v.Volume, view, v.Allocation));
        }
        _log.LogInformation("backup view taken: {Views}", string.Join(", ", taken.Select(t => $"{t.Served.Spec.Name} era {t.View.Era}")));
        return taken;
    }

    /// <summary>
    /// Drops <paramref name="view"/> (export and view) if it is still the volume's view; a view taken since is left
    /// alone. Failures are logged, not thrown: the caller is undoing a take and has its own error to report.
    /// Returns whether the view is gone (false: its drop failed and it is still held).
    /// </summary>
    public async Task<bool> DropViewAsync(ServedVolume v, BackupView view, string what)
    {
        if (v.Volume.BackupView != view) return true;
        _exports?.Remove(BackupViewExport.ExportName(v.Spec.Name));
        try
        {
            await v.Volume.DropBackupSnapAsync().ConfigureAwait(false);
            _log.LogInformation("volume {Name}: backup view dropped ({What})", v.Spec.Name, what);
            return true;
        }
        catch (Exception drop)
        {
            _log.LogError("volume {Name}: dropping {What} failed: {Message}", v.Spec.Name, what, drop.Message);
            return false;
        }
    }

    /// <summary>
    /// A take the caller stopped waiting for (the admin command's timeout) goes on in the engine: the view it
    /// makes would get no export, so it is dropped as soon as it exists. Take is all or nothing, whenever it ends.
    /// </summary>
    private void DropWhenTaken(ServedVolume v, Task<BackupView> taking) =>
        taking.ContinueWith(async t =>
        {
            if (!t.IsCompletedSuccessfully || v.Volume.BackupView != t.Result) return;
            try
            {
                await v.Volume.DropBackupSnapAsync().ConfigureAwait(false);
                _log.LogWarning("volume {Name}: take_backup_snap finished after its caller gave up; its view was dropped", v.Spec.Name);
            }
            catch (Exception e)
            {
                _log.LogError("volume {Name}: dropping a view whose take was abandoned failed: {Message}", v.Spec.Name, e.Message);
            }
        }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);

    public static string DescribeView(ServedVolume v, BackupView view) =>
        $"era {view.Era} export {BackupViewExport.ExportName(v.Spec.Name)}" +
        (view.SinceEra is { } since ? $" bitmap {BackupViewExport.BitmapName(since)}" : "");

    private async Task DropBackupAsync(ServedVolume v, CancellationToken ct)
    {
        if (v.Volume.BackupView is null) throw new AdminCommandException("no backup view to drop");
        _exports?.Remove(BackupViewExport.ExportName(v.Spec.Name));
        await v.Volume.DropBackupSnapAsync().WaitAsync(ct).ConfigureAwait(false);
        _log.LogInformation("volume {Name}: backup view dropped", v.Spec.Name);
    }

    public async Task<IReadOnlyList<string>> StatusAsync(string? volume, bool json, CancellationToken ct)
    {
        var targets = volume is null ? _volumes.Values.OrderBy(v => v.Spec.Name, StringComparer.Ordinal).ToList() : [Get(volume)];
        var lines = new List<string>();
        var reports = new List<object>();
        foreach (var v in targets)
        {
            var status = await v.Volume.StatusAsync().WaitAsync(ct).ConfigureAwait(false);
            if (json) reports.Add(StatusJson(v, status));
            else
            {
                // The kernel's line stays as it is; why a volume refuses flushes follows it in parentheses.
                var line = (v.Volume as EraVolume)?.OriginSyncFailure is { } sync ? $"{status} ({sync})" : status;
                lines.Add(volume is null ? $"{v.Spec.Name}: {line}" : line);
            }
        }
        if (json) lines.Add(JsonSerializer.Serialize(volume is null ? reports : reports[0]));
        return lines;
    }

    private static Dictionary<string, object?> StatusJson(ServedVolume v, string status)
    {
        var fields = status.Split(' ');
        var report = new Dictionary<string, object?>
        {
            ["name"] = v.Spec.Name,
            ["state"] = v.Volume.State.ToString(),
            ["status"] = status,
            ["size_bytes"] = v.Volume.SizeBytes,
            ["block_size_sectors"] = v.Volume.BlockSizeSectors,
            ["nr_blocks"] = v.Volume.NrBlocks,
            ["read_only"] = v.Spec.ReadOnly,
            ["origin_path"] = Path.GetFullPath(v.Spec.OriginPath),
            ["metadata_path"] = Path.GetFullPath(v.Spec.MetadataPath),
        };
        if (fields.Length == 4 && fields[1].Split('/') is [var used, var total])
        {
            report["metadata_block_size"] = uint.Parse(fields[0]);
            report["metadata_used"] = long.Parse(used);
            report["metadata_total"] = long.Parse(total);
            report["current_era"] = uint.Parse(fields[2]);
            report["held_root"] = fields[3] == "-" ? null : ulong.Parse(fields[3]);
        }
        report["view"] = v.Volume.BackupView is { } view
            ? new Dictionary<string, object?>
            {
                ["era"] = view.Era,
                ["export"] = BackupViewExport.ExportName(v.Spec.Name),
                ["since"] = view.SinceEra,
                ["saved_bytes"] = view.SavedBytes,
                ["limit_bytes"] = view.LimitBytes,
                ["store_path"] = Path.GetFullPath(view.StorePath),
                ["broken"] = view.BrokenReason,
                ["read_share"] = view.Pacer?.Share ?? 1,
                ["paced_reads"] = view.Pacer?.PacedReads ?? 0,
                ["paced_rest_ms"] = Math.Round(view.Pacer?.Rested.TotalMilliseconds ?? 0, 1),
            }
            : null;
        if (v.Volume is EraVolume era)
        {
            report["origin_sync_error"] = era.OriginSyncFailure;
            report["refused_writes"] = v.RefusedWrites.Count("writes");
            report["refused_flushes"] = v.RefusedWrites.Count("flushes");
            report["tracking_id"] = era.TrackingId;
            var counters = era.Counters;
            report["commits"] = counters.Commits;
            report["first_writes"] = counters.FirstWrites;
            report["blocks_marked"] = counters.BlocksMarked;
            var percentiles = counters.CommitMicrosPercentiles(50, 99);
            report["commit_us_p50"] = percentiles.Length > 0 ? Math.Round(percentiles[0], 1) : null;
            report["commit_us_p99"] = percentiles.Length > 0 ? Math.Round(percentiles[1], 1) : null;
            var waits = counters.FirstWriteWaitMicrosPercentiles(50, 99);
            report["first_write_wait_us_p50"] = waits.Length > 0 ? Math.Round(waits[0], 1) : null;
            report["first_write_wait_us_p99"] = waits.Length > 0 ? Math.Round(waits[1], 1) : null;
            report["failure"] = era.FailureReason;
        }
        return report;
    }

    /// <summary>Volumes whose stop failed (their last commit or origin flush), one line each naming the volume.</summary>
    public IReadOnlyList<string> StopFailures
    {
        get { lock (_stopFailures) return _stopFailures.ToList(); }
    }

    private readonly List<string> _stopFailures = new();

    /// <summary>postsuspend for every volume: finish in-flight requests, archive, drain the digest, commit.</summary>
    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_volumes.Values.Select(async v =>
        {
            try
            {
                await v.Volume.StopAsync().ConfigureAwait(false);
                _log.LogInformation("volume {Name}: stopped, metadata committed", v.Spec.Name);
            }
            catch (Exception e)
            {
                var prefix = $"volume {v.Spec.Name}";
                var line = e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message : $"{prefix}: stop failed: {e.Message}";
                lock (_stopFailures) _stopFailures.Add(line);
                _log.LogError("{Failure}", line);
            }
            finally
            {
                v.RefusedWrites.LogTotal(_log, v.Spec.Name);
            }
        })).ConfigureAwait(false);
    }
}

/// <summary>A started volume, its settings and the count of writes it refused.</summary>
public sealed record ServedVolume(VolumeSpec Spec, IEraVolume Volume)
{
    public RefusalLog RefusedWrites { get; } = new();

    /// <summary>The origin's base:allocation, when it can be asked (a backup view's export builds on it).</summary>
    public INbdMetaContext? Allocation { get; set; }
}
