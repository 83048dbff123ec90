namespace DmEra.Metadata.Era;

/// <summary>A message the era target refuses, with the kernel's own words ("no snap to drop").</summary>
public sealed class EraMessageException(string message) : MetadataException(message);
