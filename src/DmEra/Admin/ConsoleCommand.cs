using System.CommandLine;

namespace DmEra.Admin;

/// <summary>
/// dmera console: the admin commands interactively, with history, Tab completion (commands, volumes,
/// messages), help, and <c>watch status [VOLUME]</c> redrawing the status in place until a key is pressed.
/// </summary>
internal static class ConsoleCommand
{
    public static Command Create()
    {
        var socket = AdminCommands.AdminSocketOption();
        var command = new Command("console", "Interactive admin console for the running daemon (help lists the commands)") { socket };
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(socket)!, ct));
        return command;
    }

    private static async Task<int> RunAsync(string socket, CancellationToken ct)
    {
        AdminClient client;
        try
        {
            client = AdminClient.Connect(socket);
        }
        catch (IOException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
        using var _ = client;
        // In a fleet each line is "NAME NODE" (and "# ..." for a member that did not answer): complete the names.
        IReadOnlyList<string> volumes = (await client.SendAsync("volumes", ct)).Where(l => !l.StartsWith('#')).Select(l => l.Split(' ')[0]).ToList();
        var editor = new LineEditor(before => Completions(before, volumes));
        if (!Console.IsInputRedirected) Console.WriteLine("dmera console: 'help' lists the commands, Ctrl-D or 'quit' leaves.");
        var failures = 0;
        while (!ct.IsCancellationRequested)
        {
            var line = editor.ReadLine("dmera> ");
            if (line is null) break;
            line = line.Trim();
            if (line.Length == 0) continue;
            if (line is "quit" or "exit") break;
            try
            {
                if (line.StartsWith("watch ", StringComparison.OrdinalIgnoreCase))
                {
                    await WatchAsync(client, line["watch ".Length..].Trim(), ct);
                    continue;
                }
                foreach (var l in await client.SendAsync(line, ct)) Console.WriteLine(l);
                if (line.StartsWith("help", StringComparison.OrdinalIgnoreCase))
                    Console.WriteLine("watch status [VOLUME]                refresh the status every second until a key is pressed\nquit                                 leave the console");
            }
            catch (AdminCommandException e)
            {
                failures++;
                Console.WriteLine($"error: {e.Message}");
            }
            catch (IOException e)
            {
                Console.Error.WriteLine(e.Message);
                return 1;
            }
        }
        return Console.IsInputRedirected && failures > 0 ? 1 : 0;
    }

    private static IReadOnlyList<string> Completions(string before, IReadOnlyList<string> volumes)
    {
        var words = before.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return words switch
        {
            [] => [.. AdminRequest.Verbs, "watch", "quit"],
            ["watch"] => ["status"],
            ["message"] or ["status"] or ["status-json"] or ["watch", "status"] or ["group-checkpoint"] or ["group-backup"] => volumes,
            ["message", _] => AdminRequest.Messages,
            _ => [],
        };
    }

    private static async Task WatchAsync(AdminClient client, string what, CancellationToken ct)
    {
        if (!what.StartsWith("status", StringComparison.OrdinalIgnoreCase)) throw new AdminCommandException("usage: watch status [VOLUME]");
        var lastLines = 0;
        while (!ct.IsCancellationRequested)
        {
            var lines = await client.SendAsync(what, ct);
            if (lastLines > 0 && !Console.IsOutputRedirected) Console.Write($"\u001b[{lastLines}A");
            foreach (var l in lines) Console.WriteLine(l + "\u001b[K");
            lastLines = lines.Count;
            if (Console.IsInputRedirected) return;
            for (var i = 0; i < 10; i++)
            {
                if (Console.KeyAvailable)
                {
                    Console.ReadKey(intercept: true);
                    return;
                }
                await Task.Delay(100, ct);
            }
        }
    }
}
