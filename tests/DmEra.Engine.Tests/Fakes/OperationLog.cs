namespace DmEra.Engine.Tests.Fakes;

public enum OperationKind { MetadataWrite, MetadataFlush, OriginWrite, OriginFlush }

/// <summary>One metadata or origin operation, in the order the devices saw them.</summary>
public sealed record Operation(long Sequence, OperationKind Kind, long Position, long Length, int DurableVersion);

/// <summary>The shared, ordered record of every device operation of a test (both devices log here).</summary>
public sealed class OperationLog
{
    private readonly List<Operation> _ops = new();
    private long _next;

    public object Gate { get; } = new();

    public Operation Add(OperationKind kind, long position, long length, int durableVersion)
    {
        lock (Gate)
        {
            var op = new Operation(_next++, kind, position, length, durableVersion);
            _ops.Add(op);
            return op;
        }
    }

    public IReadOnlyList<Operation> Snapshot()
    {
        lock (Gate) return _ops.ToArray();
    }
}
