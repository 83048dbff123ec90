namespace DmEra.Backup;

/// <summary>A backup command cannot go on; the message is the one line the user sees.</summary>
public sealed class BackupException(string message, Exception? inner = null) : Exception(message, inner);
