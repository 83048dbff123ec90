using System.Text.Json;
using Akka.Actor;
using System.Runtime.Serialization;
using Akka.Serialization;

namespace DmEra.Fleet;

/// <summary>
/// The fleet protocol on the wire: System.Text.Json of the sealed records, the manifest naming the record.
/// Only the types listed here can be read, so a peer cannot make this node build anything else.
/// </summary>
public sealed class FleetSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    private static readonly Dictionary<string, Type> Types = new[]
    {
        typeof(ListVolumes), typeof(VolumeList), typeof(VolumeStatus), typeof(AllStatus), typeof(VolumeMessage), typeof(FleetReply),
        typeof(RunGroup), typeof(GroupOutcome), typeof(HoldGroup), typeof(GroupHeld), typeof(CheckpointGroup),
        typeof(GroupCheckpointed), typeof(TakeGroupViews), typeof(ConfirmGroup), typeof(GroupConfirmed), typeof(ReleaseGroup), typeof(GroupReleased),
    }.ToDictionary(t => t.Name, StringComparer.Ordinal);

    /// <summary>Outside Akka's reserved 0-100 and clear of the serializers Akka ships.</summary>
    public override int Identifier => 4190;

    public override string Manifest(object o) => o.GetType().Name;

    public override byte[] ToBinary(object obj) => JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType());

    public override object FromBinary(byte[] bytes, string manifest) =>
        Types.TryGetValue(manifest, out var type)
            ? JsonSerializer.Deserialize(bytes, type) ?? throw new SerializationException($"fleet message {manifest}: empty")
            // A SerializationException drops the one message; any other exception would tear down the association.
            : throw new SerializationException($"unknown fleet message '{manifest}' (a member of another version?)");
}
