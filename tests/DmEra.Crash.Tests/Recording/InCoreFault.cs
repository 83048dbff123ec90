using System.Reflection;
using DmEra.Engine;
using DmEra.Engine.Actors;
using DmEra.Engine.Tracking;

namespace DmEra.Crash.Tests.Recording;

/// <summary>
/// Harness self-test only: sets a volume's in-core bits by reflection before the commit, the ordering
/// kernel fix 2099b145 removed. The suite must catch it live (W2, W3) and in crash states (oracle b).
/// </summary>
public static class InCoreFault
{
    private static readonly FieldInfo Started = typeof(EraVolume).GetField("_started", BindingFlags.NonPublic | BindingFlags.Instance)!;
    private static readonly MethodInfo MarkDurable = typeof(InCoreWriteset).GetMethod("MarkDurable", BindingFlags.NonPublic | BindingFlags.Instance)!;

    public static void MarkEarly(EraVolume volume, long offset, long length)
    {
        var tracker = ((Volume.Started)Started.GetValue(volume)!).Tracker;
        var bits = tracker.Current;
        for (var b = offset / volume.BlockSizeBytes; b <= (offset + length - 1) / volume.BlockSizeBytes; b++)
            MarkDurable.Invoke(bits, [(uint)b]);
    }
}
