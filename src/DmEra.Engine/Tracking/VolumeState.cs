namespace DmEra.Engine.Tracking;

public enum VolumeState
{
    /// <summary>Serving every request.</summary>
    Running,
    /// <summary>A metadata commit failed: reads are served, writes refused with EIO, status says <c>Fail</c>.</summary>
    Failed,
    /// <summary>Stop was asked: new requests are refused while in-flight ones finish.</summary>
    Stopping,
    Stopped,
}
