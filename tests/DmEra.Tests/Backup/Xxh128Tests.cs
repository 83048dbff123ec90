using System.IO.Hashing;
using DmEra.Backup;
using Xunit;

namespace DmEra.Tests.Backup;

/// <summary>The system's libxxhash gives the digest the managed XXH3-128 gives, however the bytes are split.</summary>
public sealed class Xxh128Tests
{
    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 1)]
    [InlineData(16, 1)]
    [InlineData(240, 1)]
    [InlineData(241, 3)]
    [InlineData(1024, 7)]
    [InlineData(65536 * 3 + 5, 5)]
    [InlineData(2 << 20, 1)]
    public void The_native_hash_equals_the_managed_one_for_any_length_and_split(int length, int pieces)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);
        using var native = new Xxh128();
        Assert.True(native.IsNative, "libxxhash.so.0 (libxxhash0) is not installed");
        var step = Math.Max(1, length / pieces);
        for (var at = 0; at < length; at += step) native.Append(data.AsSpan(at, Math.Min(step, length - at)));
        Assert.Equal(XxHash128.Hash(data), native.GetCurrentHash());
        using var managed = new Xxh128(native: false);
        Assert.False(managed.IsNative);
        managed.Append(data);
        Assert.Equal(XxHash128.Hash(data), managed.GetCurrentHash());
    }
}
