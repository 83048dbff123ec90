using DmEra.Metadata.PersistentData;

namespace DmEra.Metadata.Era;

/// <summary>
/// Values of the writeset tree: each references a bitset. Equality is over the 12 packed bytes
/// (the kernel once compared 16, bug 64f2d15a); a dropped value frees its bitset.
/// </summary>
public sealed class WritesetValue(PersistentBitset bitset) : IBtreeValueType
{
    public int Size => WritesetRoot.Size;

    public void Inc(TransactionManager tm, ReadOnlySpan<byte> value) => tm.Inc(WritesetRoot.Unpack(value).Root);

    public void Dec(TransactionManager tm, ReadOnlySpan<byte> value) => bitset.Delete(WritesetRoot.Unpack(value).Root);
}
