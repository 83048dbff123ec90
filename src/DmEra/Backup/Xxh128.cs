using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace DmEra.Backup;

/// <summary>
/// XXH3-128 over a stream of bytes, as <see cref="FileChecksum"/> records it: through the system's libxxhash
/// (libxxhash0, which apt itself depends on) when it is there, else <see cref="XxHash128"/>. Both give the same
/// digest. Why native: a backup hashes every byte it copies, and the managed hash spends its first hundreds
/// of megabytes in unoptimised code while the JIT tiers it up (measured: ~0.45 s of CPU per GiB copied, against
/// ~0.1 s natively), which on a busy machine is wall time.
/// </summary>
public sealed unsafe partial class Xxh128 : IDisposable
{
    private const string Lib = "libxxhash.so.0";

    private static readonly bool NativeAvailable = ProbeNative();
    /// <summary>The widest update libxxhash has: its dispatching one picks AVX2/AVX-512 at run time.</summary>
    private static readonly delegate* unmanaged<nint, byte*, nuint, int> Update = FindUpdate();

    private nint _state;
    private readonly XxHash128? _managed;

    /// <param name="native">False for the managed hash whatever the system has (tests compare the two).</param>
    public Xxh128(bool native = true)
    {
        if (native && NativeAvailable)
        {
            _state = CreateState();
            if (_state != 0 && Reset(_state) == 0) return;
            if (_state != 0) FreeState(_state);
            _state = 0;
        }
        _managed = new XxHash128();
    }

    public bool IsNative => _state != 0;

    public void Append(ReadOnlySpan<byte> data)
    {
        if (_managed is not null)
        {
            _managed.Append(data);
            return;
        }
        ObjectDisposedException.ThrowIf(_state == 0, this);
        fixed (byte* p = data)
        {
            if (Update(_state, p, (nuint)data.Length) != 0) throw new InvalidOperationException("XXH3_128bits_update failed");
        }
    }

    /// <summary>The digest so far in XXH3's canonical form (big-endian high half, then low half), as <see cref="XxHash128"/> gives it.</summary>
    public byte[] GetCurrentHash()
    {
        if (_managed is not null) return _managed.GetCurrentHash();
        ObjectDisposedException.ThrowIf(_state == 0, this);
        var h = Digest(_state);
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, h.High64);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(8), h.Low64);
        return bytes;
    }

    public void Dispose()
    {
        if (_state == 0) return;
        FreeState(_state);
        _state = 0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Hash128
    {
        public ulong Low64;
        public ulong High64;
    }

    private static bool ProbeNative()
    {
        try
        {
            var s = CreateState();
            if (s == 0) return false;
            FreeState(s);
            return FindUpdate() != null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    private static delegate* unmanaged<nint, byte*, nuint, int> FindUpdate()
    {
        if (!NativeLibrary.TryLoad(Lib, out var lib)) return null;
        if (NativeLibrary.TryGetExport(lib, "XXH3_128bits_update_dispatch", out var f) || NativeLibrary.TryGetExport(lib, "XXH3_128bits_update", out f))
            return (delegate* unmanaged<nint, byte*, nuint, int>)f;
        return null;
    }

    [LibraryImport(Lib, EntryPoint = "XXH3_createState")] private static partial nint CreateState();
    [LibraryImport(Lib, EntryPoint = "XXH3_freeState")] private static partial int FreeState(nint state);
    [LibraryImport(Lib, EntryPoint = "XXH3_128bits_reset")] private static partial int Reset(nint state);
    [LibraryImport(Lib, EntryPoint = "XXH3_128bits_digest")] private static partial Hash128 Digest(nint state);
}
