using DmEra.Metadata;
using DmEra.Metadata.PersistentData;

namespace DmEra.Tools;

/// <summary>Opens the metadata a tool reads, with era_check's words for inputs that cannot be metadata.</summary>
internal static class MetadataInput
{
    public static MetadataDevice OpenForReading(string path, DeviceLock lockMode = DeviceLock.Shared)
    {
        if (Directory.Exists(path)) throw new MetadataException($"{path}: Not a block device or regular file");
        var device = MetadataDevice.Open(path, writable: false, lockMode);
        if (device.BlockCount < 1)
        {
            device.Dispose();
            throw new MetadataException("Metadata device/file too small.  Is this binary metadata?");
        }
        return device;
    }
}
