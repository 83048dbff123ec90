namespace DmEra.Daemon;

/// <summary>
/// One volume to serve: <c>name=NAME,origin=PATH,metadata=PATH,block-size=SECTORS</c>, optionally
/// <c>allow-shrink=yes</c> and <c>format=yes</c> (<see cref="VolumePreflight"/>). The embedded
/// default also says what to create when the files are missing (a sparse origin, zeroed metadata).
/// </summary>
public sealed record VolumeSpec(string Name, string OriginPath, string MetadataPath, uint BlockSizeSectors)
{
    /// <summary>Create the origin (sparse, this size) when it does not exist; 0 = it must exist.</summary>
    public long CreateOriginBytes { get; init; }

    /// <summary>Create the metadata file (zeroed, this size) when it does not exist; 0 = it must exist.</summary>
    public long CreateMetadataBytes { get; init; }

    public bool ReadOnly { get; init; }

    /// <summary>allow-shrink=yes: an origin smaller than the metadata tracks is applied (the era array is cut), not refused.</summary>
    public bool AllowShrink { get; init; }

    /// <summary>format=yes: metadata that is not zeroed but holds no valid era superblock is formatted, not refused.</summary>
    public bool Format { get; init; }
    /// <summary>The backup view's saved-copy file; null = beside the metadata, <c>METADATA.backup</c>.</summary>
    public string? BackupStorePath { get; init; }

    /// <summary>Most bytes the saved copy may hold; 0 = dmera.daemon.backup-limit-fraction of the origin.</summary>
    public long BackupLimitBytes { get; init; }

    public string ResolvedBackupStorePath => BackupStorePath ?? MetadataPath + ".backup";

    /// <summary>Size of the intent log <c>METADATA.log</c> created when it is missing; 0 = create none (dmera.daemon.intent-log-bytes).</summary>
    public long IntentLogBytes { get; init; }

    /// <summary>Parses the --volume form; errors say which key is wrong.</summary>
    public static VolumeSpec Parse(string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0) throw new ConfigurationException($"--volume '{text}': '{part}' is not key=value");
            var key = part[..eq].Trim();
            if (key is not ("name" or "origin" or "metadata" or "block-size" or "allow-shrink" or "format" or "backup-store" or "backup-limit"))
                throw new ConfigurationException($"--volume '{text}': unknown key '{key}' (expected name, origin, metadata, block-size, allow-shrink, format, backup-store, backup-limit)");
            if (!fields.TryAdd(key, part[(eq + 1)..].Trim()))
                throw new ConfigurationException($"--volume '{text}': '{key}' given twice");
        }
        string Need(string key) => fields.TryGetValue(key, out var v) && v.Length > 0
            ? v
            : throw new ConfigurationException($"--volume '{text}': '{key}' is missing");
        var blockSize = fields.TryGetValue("block-size", out var bs) ? ParseBlockSize(bs, text) : 128u;
        return new VolumeSpec(ValidateName(Need("name")), Need("origin"), Need("metadata"), blockSize)
        {
            AllowShrink = fields.TryGetValue("allow-shrink", out var shrink) && ParseYes(shrink, "allow-shrink", text),
            Format = fields.TryGetValue("format", out var format) && ParseYes(format, "format", text),
            BackupStorePath = fields.TryGetValue("backup-store", out var store) && store.Length > 0 ? store : null,
            BackupLimitBytes = fields.TryGetValue("backup-limit", out var limit) ? ParseBackupLimit(limit, text) : 0,
        };
    }

    /// <summary>An explicit override is spelled out: yes or no, nothing that could be a typo of either.</summary>
    public static bool ParseYes(string value, string key, string context) => value switch
    {
        "yes" => true,
        "no" => false,
        _ => throw new ConfigurationException($"{context}: {key} must be yes or no, not '{value}'"),
    };

    public static long ParseBackupLimit(string text, string context) =>
        long.TryParse(text, out var bytes) && bytes > 0
            ? bytes
            : throw new ConfigurationException($"{context}: backup-limit '{text}' must be a positive number of bytes");

    public static uint ParseBlockSize(string text, string context)
    {
        if (!uint.TryParse(text, out var sectors) || sectors == 0 || sectors % 8 != 0)
            throw new ConfigurationException($"{context}: block-size '{text}' must be a positive multiple of 8 sectors (4 KiB), e.g. 128 for 64 KiB");
        return sectors;
    }

    /// <summary>Names become NBD export names and actor names: keep them to a safe alphabet.</summary>
    public static string ValidateName(string name)
    {
        if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ConfigurationException($"volume name '{name}' must be 1-64 characters of letters, digits, '-', '_' or '.'");
        return name;
    }
}

/// <summary>A setting or flag that cannot work, phrased for the person who wrote it.</summary>
public sealed class ConfigurationException(string message) : Exception(message);
