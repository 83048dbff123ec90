using System.Buffers.Binary;
using System.Text;

namespace DmEra.Nbd.Tests.Fuzz;

/// <summary>
/// Builds client byte streams that are mostly well framed but carry mutated lengths, flags, magic numbers,
/// option orders and truncations (crash-testing.md §4.3's bad-input classes), deterministically from a seed.
/// </summary>
internal sealed class SessionInputGenerator
{
    public const string ExportName = "fuzz";
    private readonly Random _r;
    private readonly long _exportSize;
    private readonly int _maxPayload;
    private readonly List<byte> _out = new();

    public SessionInputGenerator(int seed, long exportSize, int maxPayload)
    {
        _r = new Random(seed);
        _exportSize = exportSize;
        _maxPayload = maxPayload;
    }

    public byte[] Generate()
    {
        U32(Chance(0.9) ? 3u : Chance(0.5) ? 1u : (uint)_r.Next());
        bool transmission = false;
        int options = _r.Next(0, 7);
        for (int i = 0; i < options && !transmission; i++) transmission = Option();
        if (!transmission && Chance(0.8))
        {
            Option(7, Info(ExportName, []));
            transmission = true;
        }
        if (transmission)
        {
            int requests = _r.Next(0, 40);
            for (int i = 0; i < requests; i++) Request();
        }
        var bytes = _out.ToArray();
        if (Chance(0.25)) bytes = bytes[.._r.Next(0, bytes.Length + 1)];
        return bytes;
    }

    private bool Chance(double p) => _r.NextDouble() < p;

    /// <summary>Appends one option; true if it would start transmission when well formed.</summary>
    private bool Option()
    {
        switch (_r.Next(11))
        {
            case 0: Option(8, []); return false;
            case 1: Option(3, Chance(0.8) ? [] : Bytes(_r.Next(1, 9))); return false;
            case 2: Option(6, Info(Chance(0.8) ? ExportName : RandomName(), RandomInfos())); return false;
            case 3: Option(9, Meta(ExportName, RandomQueries())); return false;
            case 4: Option(10, Meta(Chance(0.9) ? ExportName : RandomName(), RandomQueries())); return false;
            case 5: Option(5, []); return false;
            case 6: Option(2, []); return false;
            case 7: Option((uint)_r.Next(11, 1000), Bytes(_r.Next(0, 64))); return false;
            case 8: Option(1, Encoding.UTF8.GetBytes(Chance(0.8) ? ExportName : RandomName())); return true;
            case 9: Option(7, Info(ExportName, RandomInfos())); return true;
            default: Option(7, Info(RandomName(), [])); return false;
        }
    }

    private void Option(uint option, byte[] data)
    {
        if (Chance(0.15)) data = Mutate(data);
        U64(Chance(0.03) ? 0x49484156454F5055UL : 0x49484156454F5054UL);
        U32(option);
        U32(Chance(0.05) ? RandomLength() : (uint)data.Length);
        _out.AddRange(data);
    }

    private void Request()
    {
        ushort type = _r.Next(20) switch
        {
            < 5 => 0,
            < 10 => 1,
            10 => 2,
            11 => 3,
            12 => 4,
            13 => 5,
            14 or 15 => 6,
            16 or 17 => 7,
            _ => (ushort)_r.Next(8, 0x10000),
        };
        ushort flags = Chance(0.8) ? (ushort)(_r.Next(32) & (type switch { 6 => 0x13, 7 => 0x9, 0 => 0x5, _ => 0x1 })) : (ushort)_r.Next(0x10000);
        ulong offset = _r.Next(8) switch
        {
            0 => 0,
            1 => (ulong)_r.NextInt64(0, _exportSize),
            2 => (ulong)(_exportSize - _r.Next(0, 4096)),
            3 => (ulong)_exportSize,
            4 => (ulong)_exportSize + (ulong)_r.Next(1, 4096),
            5 => ulong.MaxValue - (ulong)_r.Next(0, 4096),
            6 => (ulong)_r.NextInt64() * 2,
            _ => (ulong)_r.Next(0, 1 << 20) * 512,
        };
        uint length = _r.Next(9) switch
        {
            0 => 0,
            1 => 1,
            2 => 512,
            3 => 4096,
            4 => (uint)_r.Next(0, 1 << 17),
            5 => (uint)_maxPayload,
            6 => (uint)_maxPayload + 1,
            7 => uint.MaxValue,
            _ => RandomLength(),
        };
        if (type is 2 or 3 && Chance(0.7)) (offset, length) = (0, 0);
        U32(Chance(0.02) ? 0x25609514u : 0x25609513u);
        U16(flags);
        U16(type);
        U64((ulong)_r.NextInt64());
        U64(offset);
        U32(length);
        if (type == 1)
        {
            // Bounded: a 4 GiB length gets a short payload, which the server must treat as truncation.
            int send = (int)Math.Min(length, 200_000u);
            if (Chance(0.1)) send = _r.Next(0, send + 1);
            _out.AddRange(Bytes(send));
        }
    }

    private uint RandomLength() => _r.Next(4) switch
    {
        0 => uint.MaxValue,
        1 => (uint)_r.Next(),
        2 => 0x80000000u,
        _ => (uint)_r.Next(0, 70_000),
    };

    private byte[] Mutate(byte[] data)
    {
        var copy = data.ToArray();
        switch (_r.Next(4))
        {
            case 0 when copy.Length >= 4:
                BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(_r.Next(0, copy.Length - 3)), RandomLength());
                return copy;
            case 1: return copy[..(_r.Next(0, copy.Length + 1))];
            case 2: return [.. copy, .. Bytes(_r.Next(1, 16))];
            default:
                if (copy.Length > 0) copy[_r.Next(copy.Length)] ^= (byte)(1 << _r.Next(8));
                return copy;
        }
    }

    private string RandomName() => _r.Next(5) switch
    {
        0 => "",
        1 => new string('n', _r.Next(4090, 4100)),
        2 => "nope",
        3 => "fuzz\0x",
        _ => Encoding.Latin1.GetString(Bytes(_r.Next(1, 20))),
    };

    private ushort[] RandomInfos() => Enumerable.Range(0, _r.Next(0, 5)).Select(_ => (ushort)(Chance(0.7) ? _r.Next(0, 4) : _r.Next(0x10000))).ToArray();

    private string[] RandomQueries() => Enumerable.Range(0, _r.Next(0, 4)).Select(_ => _r.Next(5) switch
    {
        0 => "base:allocation",
        1 => "base:",
        2 => "",
        3 => "x-fuzz:" + new string('q', _r.Next(0, 5000)),
        _ => "qemu:dirty-bitmap:a",
    }).ToArray();

    private static byte[] Info(string name, ushort[] infos)
    {
        var n = Encoding.UTF8.GetBytes(name);
        var b = new byte[4 + n.Length + 2 + infos.Length * 2];
        BinaryPrimitives.WriteUInt32BigEndian(b, (uint)n.Length);
        n.CopyTo(b, 4);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4 + n.Length), (ushort)infos.Length);
        for (int i = 0; i < infos.Length; i++) BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6 + n.Length + 2 * i), infos[i]);
        return b;
    }

    private static byte[] Meta(string name, string[] queries)
    {
        var list = new List<byte>();
        void Str(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            var len = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(len, (uint)bytes.Length);
            list.AddRange(len);
            list.AddRange(bytes);
        }
        Str(name);
        var count = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(count, (uint)queries.Length);
        list.AddRange(count);
        foreach (var q in queries) Str(q);
        return list.ToArray();
    }

    private byte[] Bytes(int count)
    {
        var b = new byte[count];
        _r.NextBytes(b);
        return b;
    }

    private void U16(ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16BigEndian(b, v); _out.AddRange(b.ToArray()); }
    private void U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); _out.AddRange(b.ToArray()); }
    private void U64(ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64BigEndian(b, v); _out.AddRange(b.ToArray()); }
}
