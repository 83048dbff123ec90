using DmEra.Engine.Origin;
using DmEra.Nbd;

namespace DmEra.Daemon;

/// <summary>A lent range of the live volume's origin as the NBD server's file range: recalled and released through the lease.</summary>
internal sealed class OriginLeaseRange : NbdFileRange
{
    private readonly OriginFileRange _lease;

    private OriginLeaseRange(OriginFileRange lease) : base(lease.File, lease.Offset) => _lease = lease;

    public override bool IsRecalled => _lease.IsRecalled;
    protected override void Release() => _lease.Dispose();

    /// <summary>The lease as a file range, or null (the lease given back) when a stop has closed the file meanwhile: the read then goes the usual way.</summary>
    public static NbdFileRange? Of(OriginFileRange? lease)
    {
        if (lease is null) return null;
        try
        {
            return new OriginLeaseRange(lease);
        }
        catch (ObjectDisposedException)
        {
            lease.Dispose();
            return null;
        }
    }
}
