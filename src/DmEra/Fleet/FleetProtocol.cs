namespace DmEra.Fleet;

/// <summary>
/// Every message that crosses between fleet members: sealed records of strings and numbers, bound to
/// <see cref="FleetSerializer"/> (JSON with a manifest per type; no polymorphic type names on the wire).
/// </summary>
public interface IFleetMessage;

// The volume directory (VolumeDirectory, /user/volumes on every member). Reply convention: a request gets
// exactly one reply; a refusal is a reply with Error set, never an exception or silence.

/// <summary>Which volumes does this member serve? Reply: <see cref="VolumeList"/>.</summary>
public sealed record ListVolumes : IFleetMessage;
public sealed record VolumeList(string Node, IReadOnlyList<string> Volumes) : IFleetMessage;
/// <summary>The status line of one of this member's volumes. Reply: <see cref="FleetReply"/>.</summary>
public sealed record VolumeStatus(string Volume, bool Json) : IFleetMessage;
/// <summary>The status of every volume this member serves: "NAME: LINE" lines, or with Json one JSON object a line. Reply: <see cref="FleetReply"/>.</summary>
public sealed record AllStatus(bool Json) : IFleetMessage;
/// <summary>A dm-era message to one of this member's volumes. Reply: <see cref="FleetReply"/>.</summary>
public sealed record VolumeMessage(string Volume, string Text) : IFleetMessage;
public sealed record FleetReply(IReadOnlyList<string> Lines, string? Error) : IFleetMessage;

// A fleet-wide group checkpoint or take_backup_snap. Gid is the group operation's id: every message carries
// it, so a repeated or late message is answered from the participant's record of that operation, never re-run.

/// <summary>
/// To the coordinator singleton: run one group operation over these members' volumes, a checkpoint, or with
/// <paramref name="TakeViews"/> a take_backup_snap [<paramref name="Since"/>]. Reply: <see cref="GroupOutcome"/>.
/// </summary>
public sealed record RunGroup(string Gid, IReadOnlyList<MemberVolumes> Members, bool TakeViews = false, uint? Since = null) : IFleetMessage;
/// <summary>A member (its address, as Akka writes it, and node name) and its volumes in the group.</summary>
public sealed record MemberVolumes(string Address, string Node, IReadOnlyList<string> Volumes);
/// <summary>
/// Lines: one per volume, "NAME era N (node X)" or "NAME no new era (node X): reason"; for a take "NAME era N export
/// NAME@backup [bitmap B] (node X)" or "NAME no view (node X): reason". Error: null only if every volume got its era (view).
/// </summary>
public sealed record GroupOutcome(string Gid, IReadOnlyList<string> Lines, string? Error) : IFleetMessage;

/// <summary>To a participant: hold first-writes on these volumes for at most the lease, timed on the participant's clock. Reply: <see cref="GroupHeld"/>.</summary>
public sealed record HoldGroup(string Gid, IReadOnlyList<string> Volumes) : IFleetMessage;
public sealed record GroupHeld(string Gid, string Node, string? Error) : IFleetMessage;
/// <summary>To a participant: checkpoint the held volumes, then release them. Refused once the hold has expired. Reply: <see cref="GroupCheckpointed"/>.</summary>
public sealed record CheckpointGroup(string Gid) : IFleetMessage;
/// <summary>To a participant: take a backup view of each held volume at this instant (all or none), export them, release. Refused once the hold has expired. Reply: <see cref="GroupCheckpointed"/>.</summary>
public sealed record TakeGroupViews(string Gid, uint? Since) : IFleetMessage;
/// <summary>
/// To a participant, once every member took its views: keep the views taken for this group. A view that gets no
/// Confirm within the lease (timed on the participant's clock from the take) is dropped by its member, so a
/// coordinator that vanishes between the takes and the confirmation leaves no view behind. Reply: <see cref="GroupConfirmed"/>.
/// </summary>
public sealed record ConfirmGroup(string Gid) : IFleetMessage;
/// <summary>Error is set when the member no longer has the group's views (the confirmation came after its lease).</summary>
public sealed record GroupConfirmed(string Gid, string Node, string? Error) : IFleetMessage;
/// <summary>The reply to <see cref="CheckpointGroup"/> and <see cref="TakeGroupViews"/>: each volume's new era, or the era its view closes.</summary>
public sealed record GroupCheckpointed(string Gid, string Node, IReadOnlyList<VolumeEra> Volumes, string? Error) : IFleetMessage;
/// <summary>Era is null when that volume's checkpoint (or view) failed (Error says why).</summary>
public sealed record VolumeEra(string Volume, uint? Era, string? Error);
/// <summary>
/// To a participant: abandon the group; release its hold if it still has one, and drop the views it took for
/// the group (at once, or as soon as a take in progress ends). Reply: <see cref="GroupReleased"/>, naming the
/// volumes whose view of this group was dropped.
/// </summary>
public sealed record ReleaseGroup(string Gid) : IFleetMessage;
public sealed record GroupReleased(string Gid, string Node, IReadOnlyList<string>? Dropped = null) : IFleetMessage;
