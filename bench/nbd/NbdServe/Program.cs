using System.Net;
using DmEra.Nbd;
using DmEra.Nbd.Exports;

// Usage: NbdServe (--file PATH | --memory BYTES) [--name NAME] [--port N] [--unix PATH] [--read-only]
// Serves until stdin closes or SIGTERM; prints "ready PORT" once listening so scripts can wait for it.
string? file = null, unix = null, name = "";
long memory = 0;
int port = 0;
bool readOnly = false;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--file": file = args[++i]; break;
        case "--memory": memory = long.Parse(args[++i]); break;
        case "--name": name = args[++i]; break;
        case "--port": port = int.Parse(args[++i]); break;
        case "--unix": unix = args[++i]; break;
        case "--read-only": readOnly = true; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}
INbdExport export = file is not null ? new FileExport(file, readOnly) : new MemoryExport(memory, readOnly);
var catalog = new NbdExportCatalog().Add(name, export);
await using var server = new NbdServer(catalog);
var bound = server.ListenTcp(new IPEndPoint(IPAddress.Loopback, port));
if (unix is not null) server.ListenUnix(unix);
Console.WriteLine($"ready {bound.Port}");
var stop = new TaskCompletionSource();
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.TrySetResult();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.TrySetResult(); };
await stop.Task;
return 0;
