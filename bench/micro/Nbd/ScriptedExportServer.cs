using DmEra.Nbd;
using DmEra.Nbd.Exports;

namespace DmEra.Micro.Bench.Nbd;

/// <summary>
/// An <see cref="NbdSession"/> over a <see cref="MemoryExport"/> filled with one byte value, replaying one
/// <see cref="ClientScript"/>. The first replay keeps the replies and checks them (and, after WRITEs, the
/// export); later replays only compare the number of reply bytes with it, which costs nothing measurable.
/// </summary>
public sealed class ScriptedExportServer
{
    public const string ExportName = "bench";
    public const byte ExportFill = 0x5a;

    private readonly ClientScript _script;
    private readonly MemoryExport _export;
    private readonly NbdSession _session;
    private readonly long _replyBytes;

    public ScriptedExportServer(ClientScript script, long exportBytes)
    {
        _script = script;
        _export = new MemoryExport(exportBytes);
        var contents = new byte[exportBytes];
        Array.Fill(contents, ExportFill);
        _export.Load(0, contents);
        _session = new NbdSession(new NbdExportCatalog().Add(ExportName, _export));

        var checkedRun = new ScriptedClientStream(script, captureReplies: true);
        _session.RunAsync(checkedRun, "bench", CancellationToken.None).GetAwaiter().GetResult();
        ReplyCheck.Check(checkedRun.Replies, script, exportBytes, ExportFill);
        if (script.Writes && script.Requests > 0) CheckExportWritten();
        _replyBytes = checkedRun.BytesWritten;
    }

    public async Task ReplayAsync()
    {
        var stream = new ScriptedClientStream(_script);
        await _session.RunAsync(stream, "bench", CancellationToken.None);
        if (stream.BytesWritten != _replyBytes)
            throw new InvalidOperationException($"the session wrote {stream.BytesWritten} reply bytes, {_replyBytes} expected");
    }

    /// <summary>The WRITEs cover the export, so every byte must now be their fill.</summary>
    private void CheckExportWritten()
    {
        var back = new byte[_export.Size];
        _export.ReadAsync(0, back, CancellationToken.None).GetAwaiter().GetResult();
        if (back.AsSpan().ContainsAnyExcept(_script.PayloadFill))
            throw new InvalidOperationException("the WRITEs did not reach the export");
    }
}
