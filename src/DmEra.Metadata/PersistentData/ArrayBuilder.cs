using System.Buffers.Binary;

namespace DmEra.Metadata.PersistentData;

/// <summary>
/// Builds a dm-array of a known size from values given in any order, streaming: values arrive into
/// the current block, which is written when a later block is touched. Blocks left all-default share
/// one block by reference count (as dm_array_resize does), so a sparse 2^24-bit writeset stays small.
/// Values for a block already written (input out of order) go through the copy-on-write edit path.
/// </summary>
public sealed class ArrayBuilder
{
    private readonly PersistentArray _array;
    private readonly long _size;
    private readonly byte[] _defaultValue;
    private readonly byte[] _current;
    private long _root;
    private bool _currentTouched;
    private uint _blocksWritten;
    private long _sharedDefault;

    public ArrayBuilder(PersistentArray array, long size, ReadOnlySpan<byte> defaultValue)
    {
        _array = array;
        _size = size;
        _defaultValue = defaultValue.ToArray();
        _current = new byte[array.EntriesPerBlock * array.ValueSize];
        _root = array.CreateEmpty();
        FillDefault(_current);
    }

    public long Size => _size;
    private long BlockCount => PersistentArray.BlockCount(_size, _array.EntriesPerBlock);

    /// <summary>Sets the u32 value at <paramref name="index"/> (era arrays).</summary>
    public void SetU32(long index, uint value) =>
        Edit(index, (span, v) => BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)v), value);

    /// <summary>ORs <paramref name="mask"/> into the u64 word at <paramref name="index"/> (bitsets).</summary>
    public void OrU64(long index, ulong mask) =>
        Edit(index, (span, m) => BinaryPrimitives.WriteUInt64LittleEndian(span, BinaryPrimitives.ReadUInt64LittleEndian(span) | m), mask);

    private delegate void ValueEdit(Span<byte> value, ulong argument);

    private void Edit(long index, ValueEdit edit, ulong argument)
    {
        if ((ulong)index >= (ulong)_size) throw new MetadataException($"index {index} is beyond the array's {_size} entries");
        var blockIndex = (uint)(index / _array.EntriesPerBlock);
        var offset = (int)(index % _array.EntriesPerBlock) * _array.ValueSize;
        var vs = _array.ValueSize;
        if (blockIndex < _blocksWritten)
        {
            // Input out of order: edit the written block through copy-on-write.
            _root = _array.EditBlock(_root, blockIndex, block => edit(block.Slice(ArrayBlockView.HeaderSize + offset, vs), argument));
            return;
        }
        while (_blocksWritten < blockIndex) EmitCurrent();
        _currentTouched = true;
        edit(_current.AsSpan(offset, vs), argument);
    }

    /// <summary>Writes the remaining blocks and returns the array's root.</summary>
    public long Finish()
    {
        while (_blocksWritten < BlockCount) EmitCurrent();
        return _root;
    }

    private void EmitCurrent()
    {
        var per = _array.EntriesPerBlock;
        var entries = (int)Math.Min(per, _size - (long)_blocksWritten * per);
        if (!_currentTouched && entries == per)
        {
            if (_sharedDefault == 0)
            {
                _root = _array.AppendBlock(_root, _blocksWritten, _current);
                Span<byte> key = stackalloc byte[8];
                _array.Btree.TryLookup(_root, _blocksWritten, key);
                _sharedDefault = BlockReference.Location(key);
            }
            else
            {
                _array.Transactions.Inc(_sharedDefault);
                Span<byte> key = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(key, (ulong)_sharedDefault);
                _root = _array.Btree.Insert(_root, _blocksWritten, key);
            }
        }
        else
        {
            _root = _array.AppendBlock(_root, _blocksWritten, _current.AsSpan(0, entries * _array.ValueSize));
        }
        _blocksWritten++;
        _currentTouched = false;
        FillDefault(_current);
        _array.Transactions.Blocks.SpillIfLarge();
    }

    private void FillDefault(byte[] buffer)
    {
        if (_defaultValue.AsSpan().IndexOfAnyExcept((byte)0) < 0)
        {
            Array.Clear(buffer);
            return;
        }
        for (var i = 0; i < buffer.Length; i += _defaultValue.Length) _defaultValue.CopyTo(buffer, i);
    }
}
