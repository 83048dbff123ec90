namespace DmEra.Nbd;

/// <summary>Names and status bits of the standard metadata contexts, and the query rule of NBD_OPT_*_META_CONTEXT.</summary>
public static class NbdMetaContexts
{
    /// <summary>The spec's allocation context: which ranges are holes and which read as zeroes.</summary>
    public const string BaseAllocation = "base:allocation";

    /// <summary>base:allocation bit 0: the range is not allocated.</summary>
    public const uint StateHole = 1;

    /// <summary>base:allocation bit 1: the range reads as zeroes.</summary>
    public const uint StateZero = 2;

    /// <summary>
    /// True when a context named <paramref name="name"/> answers a LIST query: "" matches everything, a
    /// query ending in ':' matches every name it prefixes, anything else must equal the name.
    /// </summary>
    public static bool Matches(string query, string name) =>
        query.Length == 0
        || (query[^1] == ':' ? name.StartsWith(query, StringComparison.Ordinal) : string.Equals(query, name, StringComparison.Ordinal));
}
