namespace DmEra.Metadata.Era.Xml;

/// <summary>
/// Era blocks <c>[Begin, End)</c>, half-open like era_invalidate's <c>&lt;range&gt;</c>. End is a
/// long because a range may run to the end of a 2^32-block device.
/// </summary>
public readonly record struct BlockRange(long Begin, long End)
{
    public long Length => End - Begin;

    public override string ToString() => Length == 1 ? $"{Begin}" : $"[{Begin},{End})";
}
