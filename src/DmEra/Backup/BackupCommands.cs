using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;
using DmEra.Admin;
using DmEra.Tools;

namespace DmEra.Backup;

/// <summary>
/// <c>dmera backup create|list|verify|restore</c>: exit 0 on success, 1 with a one-line error. Ctrl-C
/// and SIGTERM cancel the copy; the view is dropped on the way out.
/// </summary>
internal static class BackupCommands
{
    public const string DefaultUri = "nbd://127.0.0.1/";

    public static Command Create()
    {
        return new Command("backup", "Full and incremental backups of a volume into a chain of qcow2 files, restorable with dmera or qemu-img")
        {
            CreateCommand(), ListCommand(), VerifyCommand(), RestoreCommand(),
        };
    }

    private static Command CreateCommand()
    {
        var volume = new Argument<string>("volume") { Description = "The volume to back up" };
        var dir = new Argument<string>("dir") { Description = "The chain's directory (created when missing)" };
        var full = new Option<bool>("--full") { Description = "A full backup even when the chain could take an incremental" };
        var socket = AdminCommands.AdminSocketOption();
        var uri = new Option<string>("--uri") { Description = $"Where the daemon serves NBD; the export is replaced by the view's (default {DefaultUri})", HelpName = "nbd-uri", DefaultValueFactory = _ => DefaultUri };
        var json = new Option<bool>("--json") { Description = "Print a JSON summary" };
        var command = new Command("create", "Take a view of VOLUME, copy it into the next point of DIR's chain, end the view") { volume, dir, full, socket, uri, json };
        command.SetAction(parse => Guarded(ct =>
        {
            var asJson = parse.GetValue(json);
            var create = new BackupCreate(new VolumeAdmin(parse.GetValue(socket)!), parse.GetValue(uri)!);
            var s = create.Run(parse.GetValue(volume)!, parse.GetValue(dir)!, parse.GetValue(full), asJson, m => Console.Error.WriteLine(m), ct);
            if (s.Warning is { } w) Console.Error.WriteLine(w);
            var p = s.Point;
            if (asJson)
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    point = p.Point, file = p.File, kind = p.Kind, era = p.Era, since_era = p.SinceEra, bytes = p.Bytes,
                    seconds = Math.Round(s.Seconds, 3), full_reason = s.FullReason, warning = s.Warning,
                }));
            else
                Console.WriteLine($"point {p.Point}: {p.Kind}, era {p.Era}, {TerminalProgress.Bytes(p.Bytes)} copied in {s.Seconds:0.0} s -> {p.File}");
            return 0;
        }));
        return command;
    }

    private static Command ListCommand()
    {
        var dir = new Argument<string>("dir") { Description = "The chain's directory" };
        var json = new Option<bool>("--json") { Description = "A JSON array: point, file, kind, era, bytes and the rest of the manifest's entry" };
        var command = new Command("list", "The points of a chain") { dir, json };
        command.SetAction(parse => Guarded(_ =>
        {
            var m = BackupManifest.Load(parse.GetValue(dir)!);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(m.Points, BackupManifest.Json));
                return 0;
            }
            Console.WriteLine($"volume {m.Volume}");
            Console.WriteLine("point  kind         era  since      bytes  created               file");
            foreach (var p in m.Points)
                Console.WriteLine($"{p.Point,5}  {p.Kind,-11} {p.Era,4}  {(p.SinceEra is { } s ? s.ToString() : "-"),5}  {TerminalProgress.Bytes(p.Bytes),9}  {p.Created:yyyy-MM-dd HH:mm:ss}Z  {p.File}");
            return 0;
        }));
        return command;
    }

    private static Command VerifyCommand()
    {
        var dir = new Argument<string>("dir") { Description = "The chain's directory" };
        var command = new Command("verify", "Re-read every point and check it against the manifest (checksum, qcow2 header, backing chain)") { dir };
        command.SetAction(parse => Guarded(ct =>
        {
            var d = parse.GetValue(dir)!;
            var m = BackupManifest.Load(d);
            using var progress = TerminalProgress.Start("verify", m.Points.Sum(p => File.Exists(Path.Combine(d, p.File)) ? new FileInfo(Path.Combine(d, p.File)).Length : 0), quiet: false, bytes: true);
            var problems = BackupVerify.Run(d, progress, ct);
            progress?.Dispose();
            foreach (var problem in problems) Console.Error.WriteLine(problem);
            if (problems.Count > 0) return 1;
            Console.WriteLine($"{m.Points.Count} points verified");
            return 0;
        }));
        return command;
    }

    private static Command RestoreCommand()
    {
        var dir = new Argument<string>("dir") { Description = "The chain's directory" };
        var point = new Option<int?>("--point")
        {
            Description = "The point to restore (default: the last)", HelpName = "n",
            CustomParser = r =>
            {
                var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
                if (int.TryParse(text, out var n) && n >= 0) return n;
                r.AddError($"--point takes a point number (0, 1, ... as 'dmera backup list' shows), not '{text}'");
                return null;
            },
        };
        var to = new Option<string>("--to") { Description = "A file (created or overwritten), a block device, or an NBD URI", HelpName = "file|nbd-uri", Required = true };
        var command = new Command("restore", "Write the volume as of a point to a file, a device or an NBD export") { dir, point, to };
        command.SetAction(parse => Guarded(ct =>
        {
            var bytes = BackupRestore.Run(parse.GetValue(dir)!, parse.GetValue(point), parse.GetValue(to)!, quiet: false, ct);
            Console.Error.WriteLine($"restored {TerminalProgress.Bytes(bytes)} to {parse.GetValue(to)}");
            return 0;
        }));
        return command;
    }

    /// <summary>Runs a command with Ctrl-C / SIGTERM / SIGHUP cancelling it, and every failure as one line and exit 1.</summary>
    private static int Guarded(Func<CancellationToken, int> body)
    {
        using var cts = new CancellationTokenSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel);
        using var hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Cancel);
        try
        {
            return body(cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            Console.Error.WriteLine("interrupted: the chain is as it was before this command");
            return 1;
        }
        catch (Exception e) when (e is BackupException or AdminCommandException or IOException or UnauthorizedAccessException or JsonException)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }

        void Cancel(PosixSignalContext context)
        {
            context.Cancel = true;    // no abrupt exit: the command unwinds and ends its view
            cts.Cancel();
        }
    }
}
