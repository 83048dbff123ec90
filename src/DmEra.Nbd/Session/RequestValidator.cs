using DmEra.Nbd.Protocol;

namespace DmEra.Nbd.Session;

/// <summary>
/// Checks a request before the backend sees it, choosing the error values proto.md recommends: ENOSPC for
/// writes past the end, EINVAL for other out-of-range, unknown or unsupported requests, EPERM for changes to
/// a read-only export. A request that passes is in range and supported.
/// </summary>
internal static class RequestValidator
{
    public static (NbdError Error, string? Message) Check(NbdRequest request, INbdExport export, bool structuredReplies, int selectedContexts, int maxPayload)
    {
        var caps = export.Capabilities;
        bool readOnly = (caps & NbdExportCapabilities.ReadOnly) != 0;
        var allowed = CommandFlags.Fua;
        switch (request.Command)
        {
            case NbdCommand.Read: if (structuredReplies) allowed |= CommandFlags.DontFragment; break;
            case NbdCommand.WriteZeroes:
                allowed |= CommandFlags.NoHole;
                if ((caps & NbdExportCapabilities.FastZero) != 0) allowed |= CommandFlags.FastZero;
                break;
            case NbdCommand.BlockStatus: allowed |= CommandFlags.ReqOne; break;
            case NbdCommand.Write or NbdCommand.Flush or NbdCommand.Trim or NbdCommand.Cache: break;
            default: return (NbdError.InvalidArgument, $"unknown command {(ushort)request.Command}");
        }
        if ((request.Flags & ~allowed) != 0)
            return (NbdError.InvalidArgument, $"flags 0x{(ushort)request.Flags:x} are not valid for {request.Command}");

        switch (request.Command)
        {
            case NbdCommand.Write or NbdCommand.Trim or NbdCommand.WriteZeroes when readOnly:
                return (NbdError.PermissionDenied, "the export is read-only");
            case NbdCommand.Trim when (caps & NbdExportCapabilities.Trim) == 0:
                return (NbdError.InvalidArgument, "the export does not support trim");
            case NbdCommand.WriteZeroes when (caps & NbdExportCapabilities.WriteZeroes) == 0:
                return (NbdError.InvalidArgument, "the export does not support write-zeroes");
            case NbdCommand.Flush when (caps & NbdExportCapabilities.Flush) == 0:
                return (NbdError.InvalidArgument, "the export does not support flush");
            case NbdCommand.Flush when request.Offset != 0 || request.Length != 0:
                return (NbdError.InvalidArgument, "FLUSH must have offset and length 0");
            case NbdCommand.BlockStatus when selectedContexts == 0:
                return (NbdError.InvalidArgument, "BLOCK_STATUS needs a metadata context selected with SET_META_CONTEXT");
            case NbdCommand.BlockStatus when request.Length == 0:
                return (NbdError.InvalidArgument, "BLOCK_STATUS of length 0 has no extent to describe");
            case NbdCommand.Read when request.Length > (uint)maxPayload:
                return (NbdError.InvalidArgument, $"READ of {request.Length} bytes exceeds the {maxPayload}-byte maximum");
        }

        if (request.Command != NbdCommand.Flush)
        {
            ulong size = (ulong)export.Size;
            if (request.Offset > size || request.Length > size - request.Offset)
            {
                bool isWrite = request.Command is NbdCommand.Write or NbdCommand.WriteZeroes;
                return (isWrite ? NbdError.NoSpace : NbdError.InvalidArgument,
                    $"{request.Command} of {request.Length} bytes at {request.Offset} runs past the end of the {size}-byte export");
            }
        }
        return (NbdError.None, null);
    }
}
