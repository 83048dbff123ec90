namespace DmEra.Backup;

/// <summary>NBD URIs (the libnbd / qemu syntax): pointing one at another export of the same server.</summary>
public static class NbdUri
{
    /// <summary>The URI with its export path replaced by <paramref name="export"/> (percent-encoded: '@' and all).</summary>
    public static string WithExport(string uri, string export)
    {
        var schemeEnd = uri.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0 || !uri.StartsWith("nbd", StringComparison.OrdinalIgnoreCase))
            throw new BackupException($"not an NBD URI: {uri} (nbd://HOST[:PORT]/, nbds://..., nbd+unix:///?socket=PATH)");
        var authorityStart = schemeEnd + 3;
        var pathStart = uri.IndexOfAny(['/', '?', '#'], authorityStart);
        if (pathStart < 0) pathStart = uri.Length;
        var queryStart = uri.IndexOfAny(['?', '#'], pathStart);
        if (queryStart < 0) queryStart = uri.Length;
        return uri[..pathStart] + "/" + Uri.EscapeDataString(export) + uri[queryStart..];
    }

    /// <summary>The export a URI names ("" when none), decoded.</summary>
    public static string ExportOf(string uri)
    {
        var schemeEnd = uri.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0) return "";
        var pathStart = uri.IndexOfAny(['/', '?', '#'], schemeEnd + 3);
        if (pathStart < 0 || uri[pathStart] != '/') return "";
        var queryStart = uri.IndexOfAny(['?', '#'], pathStart);
        if (queryStart < 0) queryStart = uri.Length;
        return Uri.UnescapeDataString(uri[(pathStart + 1)..queryStart]);
    }

    public static bool IsNbdUri(string target) =>
        target.StartsWith("nbd://", StringComparison.OrdinalIgnoreCase) || target.StartsWith("nbds://", StringComparison.OrdinalIgnoreCase) ||
        target.StartsWith("nbd+", StringComparison.OrdinalIgnoreCase) || target.StartsWith("nbds+", StringComparison.OrdinalIgnoreCase);
}
