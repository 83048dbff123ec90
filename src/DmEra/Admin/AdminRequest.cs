namespace DmEra.Admin;

/// <summary>
/// One admin command, parsed from one line of the admin socket (the same words the console takes):
/// <c>message VOLUME checkpoint|take_metadata_snap|drop_metadata_snap</c>,
/// <c>group-checkpoint VOL1,VOL2,...</c>, <c>status [VOLUME]</c>, <c>status-json [VOLUME]</c>,
/// <c>volumes</c>, <c>help</c>.
/// </summary>
public abstract record AdminRequest
{
    public const int MaxLineBytes = 4096;

    public sealed record Message(string Volume, string Text) : AdminRequest;
    public sealed record GroupCheckpoint(IReadOnlyList<string> Names) : AdminRequest;
    /// <summary>take_backup_snap [SINCE] on several volumes at one instant.</summary>
    public sealed record GroupBackup(IReadOnlyList<string> Names, string[] Words) : AdminRequest;
    public sealed record Status(string? Volume, bool Json) : AdminRequest;
    public sealed record ListVolumes : AdminRequest;
    public sealed record ListNodes : AdminRequest;
    public sealed record Help : AdminRequest;

    public static readonly string[] Verbs = ["message", "group-checkpoint", "group-backup", "status", "status-json", "volumes", "nodes", "help"];
    public static readonly string[] Messages = ["checkpoint", "take_metadata_snap", "drop_metadata_snap", "take_backup_snap", "drop_backup_snap"];

    public static readonly string HelpText = """
        message VOLUME checkpoint            start a new era (prints the new era)
        message VOLUME take_metadata_snap    hold a read-only copy of the metadata (prints the held root)
        message VOLUME drop_metadata_snap    release it
        message VOLUME take_backup_snap [SINCE]  freeze the volume at this instant as export VOLUME@backup (prints its era)
        message VOLUME drop_backup_snap      end the backup view, free its saved copies
        group-checkpoint VOL1,VOL2,...       one era boundary for several volumes at the same instant
        group-backup VOL1,VOL2,... [SINCE]   take_backup_snap on several volumes at the same instant
        status [VOLUME]                      the kernel's status line: <md block size> <used>/<total> <era> <held root|->
        status-json [VOLUME]                 the same, as JSON
        volumes                              the volumes served (in a fleet: every member's, with its node)
        nodes                                the fleet's members: name, state, address
        help                                 this text
        """;

    /// <summary>Parses a line; a line that is not a command throws <see cref="FormatException"/> saying why.</summary>
    public static AdminRequest Parse(string line)
    {
        var words = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0) throw new FormatException("empty command (try 'help')");
        var verb = words[0].ToLowerInvariant();
        return verb switch
        {
            "message" when words.Length == 3 => new Message(words[1], words[2]),
            "message" when words.Length == 4 && words[2].Equals("take_backup_snap", StringComparison.OrdinalIgnoreCase) =>
                new Message(words[1], words[2] + " " + words[3]),
            "message" => throw new FormatException("usage: message VOLUME checkpoint|take_metadata_snap|drop_metadata_snap|take_backup_snap [SINCE]|drop_backup_snap (one message, as the kernel takes)"),
            "group-checkpoint" when words.Length == 2 =>
                new GroupCheckpoint(words[1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToList()),
            "group-checkpoint" => throw new FormatException("usage: group-checkpoint VOL1,VOL2,..."),
            "group-backup" when words.Length is 2 or 3 =>
                new GroupBackup(words[1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToList(),
                    ["take_backup_snap", .. words[2..]]),
            "group-backup" => throw new FormatException("usage: group-backup VOL1,VOL2,... [SINCE_ERA]"),
            "status" or "status-json" when words.Length <= 2 => new Status(words.Length == 2 ? words[1] : null, verb == "status-json"),
            "status" or "status-json" => throw new FormatException($"usage: {verb} [VOLUME]"),
            "volumes" when words.Length == 1 => new ListVolumes(),
            "nodes" when words.Length == 1 => new ListNodes(),
            "help" => new Help(),
            _ => throw new FormatException($"unknown command '{Truncate(words[0])}' (try 'help')"),
        };
    }

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
