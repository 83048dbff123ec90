using System.CommandLine;

namespace DmEra.Admin;

/// <summary>dmera message / status / volumes: one admin command each, exit 0 on success, 1 with the daemon's words.</summary>
internal static class AdminCommands
{
    public const string DefaultAdminSocket = "var/admin.sock";

    public static Option<string> AdminSocketOption() =>
        new("--admin-socket") { Description = $"The daemon's admin socket (default {DefaultAdminSocket})", HelpName = "path", DefaultValueFactory = _ => DefaultAdminSocket };

    public static Command Message()
    {
        var socket = AdminSocketOption();
        var group = new Option<string>("--group") { Description = "checkpoint (or take_backup_snap) several volumes at one instant, or drop_backup_snap on each: VOL1,VOL2,...", HelpName = "volumes" };
        var words = new Argument<string[]>("volume-and-message") { Description = "VOLUME checkpoint|take_metadata_snap|drop_metadata_snap|take_backup_snap [SINCE]|drop_backup_snap (with --group: checkpoint, take_backup_snap [SINCE] or drop_backup_snap)", Arity = ArgumentArity.OneOrMore };
        var command = new Command("message", "Send a dm-era message to a volume of the running daemon (prints the new era, or the held root)") { socket, group, words };
        command.SetAction((parse, ct) =>
        {
            var w = parse.GetValue(words)!;
            var g = parse.GetValue(group);
            if (g is not null)
                return w switch
                {
                    ["checkpoint"] or ["Checkpoint"] or ["CHECKPOINT"] => SendAsync(parse.GetValue(socket)!, $"group-checkpoint {g}", ct),
                    [var take, ..] when take.Equals("take_backup_snap", StringComparison.OrdinalIgnoreCase) && w.Length <= 2 =>
                        SendAsync(parse.GetValue(socket)!, $"group-backup {g} {string.Join(' ', w[1..])}".TrimEnd(), ct),
                    [var drop] when drop.Equals("drop_backup_snap", StringComparison.OrdinalIgnoreCase) =>
                        DropGroupAsync(parse.GetValue(socket)!, g, ct),
                    _ => Fail("--group takes one message: checkpoint, take_backup_snap [SINCE_ERA] or drop_backup_snap"),
                };
            return w.Length == 2 || (w.Length == 3 && w[1].Equals("take_backup_snap", StringComparison.OrdinalIgnoreCase))
                ? SendAsync(parse.GetValue(socket)!, $"message {string.Join(' ', w)}", ct)
                : Fail("usage: dmera message VOLUME MESSAGE");
        });
        return command;
    }

    public static Command Status()
    {
        var socket = AdminSocketOption();
        var json = new Option<bool>("--json") { Description = "JSON for scripts" };
        var volume = new Argument<string?>("volume") { Description = "One volume (default: all, each line prefixed by its name)", Arity = ArgumentArity.ZeroOrOne };
        // An option typed wrong (--jsn) would otherwise be taken for a volume's name.
        volume.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && r.Tokens[0].Value.StartsWith('-')) r.AddError($"unknown option '{r.Tokens[0].Value}' (options: --json, --admin-socket)");
        });
        var command = new Command("status", "The kernel status line of a volume: <metadata block size> <used>/<total> <era> <held root|->") { socket, json, volume };
        command.SetAction((parse, ct) =>
        {
            var v = parse.GetValue(volume);
            var verb = parse.GetValue(json) ? "status-json" : "status";
            return SendAsync(parse.GetValue(socket)!, v is null ? verb : $"{verb} {v}", ct);
        });
        return command;
    }

    public static Command Volumes()
    {
        var socket = AdminSocketOption();
        var command = new Command("volumes", "The volumes the running daemon serves (in a fleet: every member's, each with its node)") { socket };
        command.SetAction((parse, ct) => SendAsync(parse.GetValue(socket)!, "volumes", ct));
        return command;
    }

    public static Command Nodes()
    {
        var socket = AdminSocketOption();
        var command = new Command("nodes", "The members of the daemon's fleet: name, state, address") { socket };
        command.SetAction((parse, ct) => SendAsync(parse.GetValue(socket)!, "nodes", ct));
        return command;
    }

    private static Task<int> Fail(string message)
    {
        Console.Error.WriteLine(message);
        return Task.FromResult(1);
    }

    /// <summary>
    /// drop_backup_snap on each volume of a group: ending views needs no common instant, so each is its own
    /// command; every volume is tried, a line per volume, exit 1 if any could not drop its view.
    /// </summary>
    private static async Task<int> DropGroupAsync(string socket, string group, CancellationToken ct)
    {
        var failed = false;
        foreach (var volume in group.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct())
        {
            try
            {
                using var client = AdminClient.Connect(socket);
                await client.SendAsync($"message {volume} drop_backup_snap", ct);
                Console.WriteLine($"{volume} dropped");
            }
            catch (Exception e) when (e is AdminCommandException or IOException)
            {
                Console.Error.WriteLine($"{volume}: {e.Message}");
                failed = true;
                if (e is IOException) break;    // no daemon: the next volumes would say the same
            }
        }
        return failed ? 1 : 0;
    }

    private static async Task<int> SendAsync(string socket, string line, CancellationToken ct)
    {
        try
        {
            using var client = AdminClient.Connect(socket);
            foreach (var l in await client.SendAsync(line, ct)) Console.WriteLine(l);
            return 0;
        }
        catch (Exception e) when (e is AdminCommandException or IOException)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
    }
}
