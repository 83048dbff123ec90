using DmEra.Metadata;
using DmEra.Metadata.PersistentData;
using DmEra.Storage.Devices;

namespace DmEra.Crash.Tests.Devices;

/// <summary>
/// A metadata device over a shared, never-modified base image plus a private copy-on-write overlay: a
/// crash state costs the blocks it differs in, not a copy of the device. Writes go to the overlay;
/// <see cref="Flush"/> is a no-op (nothing after the crash state is itself crashed here). Thread-safe, so
/// the harness can take a consistent <see cref="Snapshot"/> while the recovered volume's actors write.
/// </summary>
public sealed class ImageMetadataDevice : IBlockDevice
{
    private readonly byte[]?[] _base;
    private readonly Dictionary<long, byte[]> _overlay = new();
    private readonly object _gate = new();

    public ImageMetadataDevice(byte[]?[] baseImage) => _base = baseImage;

    public long BlockCount => _base.LongLength;
    public long SizeBytes => _base.LongLength * MetadataBlock.Size;

    public static implicit operator MetadataDevice(ImageMetadataDevice device) => new(device);

    /// <summary>Reads metadata block <paramref name="block"/> (a block number, where the device contract takes a byte offset).</summary>
    public void Read(long block, Span<byte> buffer)
    {
        Check(block);
        lock (_gate)
        {
            var data = _overlay.TryGetValue(block, out var o) ? o : _base[block];
            if (data is null) buffer[..MetadataBlock.Size].Clear();
            else data.CopyTo(buffer);
        }
    }

    /// <summary>Writes metadata block <paramref name="block"/> (a block number, as <see cref="Read"/>).</summary>
    public void Write(long block, ReadOnlySpan<byte> buffer)
    {
        Check(block);
        lock (_gate) _overlay[block] = buffer[..MetadataBlock.Size].ToArray();
    }

    /// <summary>Overwrites part of a block (a torn write keeps only some of its sectors).</summary>
    public void WriteSectors(long block, ReadOnlySpan<byte> data, Func<int, bool> keepSector)
    {
        lock (_gate)
        {
            var current = _overlay.TryGetValue(block, out var o) ? o : (byte[]?)_base[block]?.Clone() ?? new byte[MetadataBlock.Size];
            for (var s = 0; s < MetadataBlock.SizeSectors; s++)
                if (keepSector(s)) data.Slice(s * 512, 512).CopyTo(current.AsSpan(s * 512));
            _overlay[block] = current;
        }
    }

    public void Flush() { }

    /// <summary>The whole image now, as an independent base for another device.</summary>
    public byte[]?[] Snapshot()
    {
        lock (_gate)
        {
            var copy = (byte[]?[])_base.Clone();
            foreach (var (k, v) in _overlay) copy[k] = (byte[])v.Clone();
            return copy;
        }
    }

    /// <summary>Identifies the overlay's content (same base, same key = same image).</summary>
    public string OverlayKey()
    {
        lock (_gate)
        {
            using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            foreach (var (block, data) in _overlay.OrderBy(kv => kv.Key))
            {
                hash.AppendData(BitConverter.GetBytes(block));
                hash.AppendData(data);
            }
            return Convert.ToHexString(hash.GetHashAndReset());
        }
    }

    public void Dispose() { }

    void IBlockDevice.Read(long offset, Span<byte> buffer) => Read(MetadataBlock.At(offset, buffer.Length), buffer);

    void IBlockDevice.Write(long offset, ReadOnlySpan<byte> buffer) => Write(MetadataBlock.At(offset, buffer.Length), buffer);

    private void Check(long block)
    {
        if ((ulong)block >= (ulong)_base.LongLength)
            throw new MetadataException($"metadata block {block} is beyond the end of the device ({_base.LongLength} blocks)");
    }
}
