using System.Text.Json;
using System.Text.Json.Serialization;

namespace DmEra.Backup;

/// <summary>One point of a chain as the manifest records it.</summary>
public sealed record BackupPoint
{
    public int Point { get; init; }
    /// <summary>The qcow2 file, relative to the chain's directory.</summary>
    public string File { get; init; } = "";
    /// <summary><c>full</c> or <c>incremental</c>.</summary>
    public string Kind { get; init; } = "";
    /// <summary>The era the point's view closed: every write of an era up to this one is in the point.</summary>
    public uint Era { get; init; }
    /// <summary>An incremental copies what was written in eras <c>since_era</c>..<c>era</c>; null for a full point.</summary>
    public uint? SinceEra { get; init; }
    /// <summary>Volume bytes copied into the point (data clusters; zeros are recorded, not copied).</summary>
    public long Bytes { get; init; }
    public string TrackingId { get; init; } = "";
    public long SizeBytes { get; init; }
    public int ClusterSize { get; init; }
    /// <summary>The point's backing file (relative), null for a full point.</summary>
    public string? Backing { get; init; }
    /// <summary>The qcow2 file's checksum as written (<see cref="FileChecksum"/>).</summary>
    public string Checksum { get; init; } = "";
    public DateTimeOffset Created { get; init; }

    [JsonIgnore] public bool IsFull => Kind == BackupManifest.Full;
}

/// <summary>
/// A chain's manifest (DIR/manifest.json): the volume and its points in order. A full point starts a
/// new chain inside the same directory (after a reset); an incremental's backing file is the point
/// before it. Written whole to a temporary name and renamed, so a crash leaves the old or the new one.
/// </summary>
public sealed record BackupManifest
{
    public const string FileName = "manifest.json";
    public const string FormatName = "dmera-backup-chain";
    public const string Full = "full";
    public const string Incremental = "incremental";

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public string Format { get; init; } = FormatName;
    public int Version { get; init; } = 1;
    public string Volume { get; init; } = "";
    public IReadOnlyList<BackupPoint> Points { get; init; } = [];

    [JsonIgnore] public BackupPoint? Last => Points.Count == 0 ? null : Points[^1];

    public static string PathIn(string dir) => Path.Combine(dir, FileName);

    /// <summary>The manifest in <paramref name="dir"/>, or null when the directory holds none.</summary>
    public static BackupManifest? TryLoad(string dir)
    {
        var path = PathIn(dir);
        if (!System.IO.File.Exists(path)) return null;
        BackupManifest? m;
        try
        {
            m = JsonSerializer.Deserialize<BackupManifest>(System.IO.File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            // Where, not the serializer's paragraph: the line and the field a hand edit or damage broke.
            var at = e.Path is { Length: > 1 } field ? $" at {field}" : "";
            throw new BackupException($"{path}: not a backup manifest (malformed JSON{at}, line {e.LineNumber + 1})");
        }
        if (m is null || m.Format != FormatName) throw new BackupException($"{path}: not a dmera backup manifest");
        if (m.Version != 1) throw new BackupException($"{path}: manifest version {m.Version}, this dmera reads version 1");
        m.Validate(path);
        return m;
    }

    /// <summary>The manifest, or a one-line error saying DIR holds no chain.</summary>
    public static BackupManifest Load(string dir) =>
        TryLoad(dir) ?? throw new BackupException(Directory.Exists(dir)
            ? $"{dir} holds no backup chain (no {FileName})"
            : System.IO.File.Exists(dir) ? $"{dir} is a file, not a chain's directory" : $"{dir}: no such directory");

    /// <summary>Structural rules a hand-edited or damaged manifest may break.</summary>
    public void Validate(string path)
    {
        // JSON null and missing fields reach here as nulls and defaults the types do not admit.
        if (string.IsNullOrEmpty(Volume)) throw new BackupException($"{path}: the manifest names no volume");
        if (Points is null) throw new BackupException($"{path}: the manifest has no points list");
        for (var i = 0; i < Points.Count; i++)
        {
            var p = Points[i] ?? throw new BackupException($"{path}: point {i} is null");
            if (string.IsNullOrEmpty(p.Checksum) || p.SizeBytes <= 0)
                throw new BackupException($"{path}: point {i} has no {(p.SizeBytes <= 0 ? "size_bytes" : "checksum")}");
            if (p.Point != i) throw new BackupException($"{path}: point {i} is numbered {p.Point}");
            if (p.Kind is not (Full or Incremental)) throw new BackupException($"{path}: point {i} has kind '{p.Kind}'");
            if (string.IsNullOrEmpty(p.File) || Path.IsPathRooted(p.File) || p.File.Contains('/') || p.File.Contains('\\'))
                throw new BackupException($"{path}: point {i} names file '{p.File}', expected a name inside the chain's directory");
            if (p.IsFull != (p.Backing is null)) throw new BackupException($"{path}: point {i} ({p.Kind}) has backing '{p.Backing}'");
            if (!p.IsFull && (i == 0 || Points[i - 1].File != p.Backing))
                throw new BackupException($"{path}: point {i} is an incremental whose backing is not point {i - 1}'s file");
        }
    }

    /// <summary>The points a restore of point <paramref name="n"/> reads: the last full point at or before it, up to it.</summary>
    public IReadOnlyList<BackupPoint> ChainTo(int n)
    {
        if (Points.Count == 0) throw new BackupException("the chain holds no point yet");
        if (n < 0 || n >= Points.Count)
            throw new BackupException($"no point {n}: the chain holds points 0..{Points.Count - 1}");
        var start = n;
        while (!Points[start].IsFull) start--;
        return Points.Skip(start).Take(n - start + 1).ToList();
    }

    public BackupManifest With(BackupPoint point) => this with { Points = [.. Points, point] };

    public void Save(string dir)
    {
        var path = PathIn(dir);
        var temp = path + ".tmp";
        using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(f, this, Json);
            f.Flush(flushToDisk: true);
        }
        System.IO.File.Move(temp, path, overwrite: true);
        DirectorySync.Sync(dir);
    }
}
