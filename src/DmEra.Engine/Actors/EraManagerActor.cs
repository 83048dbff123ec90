using Akka.Actor;
using Akka.Event;
using static DmEra.Engine.Actors.EraManager;

namespace DmEra.Engine.Actors;

internal sealed class EraManagerActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _writer;
    private readonly WriteGate _gate;
    // The checkpoints the writer is carrying out, by the id of the writer's Rollover.
    private readonly Dictionary<long, Checkpoint> _checkpoints = new();
    private long? _stepInFlight;   // the id of the one DigestStep the writer has, if any
    private bool _holding;

    public EraManagerActor(IActorRef writer, WriteGate gate)
    {
        _writer = writer;
        _gate = gate;
        Active();
    }

    /// <summary>Checkpoints, and one digest step in flight at a time while archived writesets remain.</summary>
    private void Active()
    {
        // Registered before CommonReceives: a ReceiveActor takes the first matching handler.
        Receive<KickDigest>(_ => Kick());
        Receive<StopDigest>(s =>
        {
            if (_stepInFlight is not null) Become(() => Stopping(s));
            else
            {
                Become(Stopped);
                s.ReplyTo.Tell(new DigestStopped(s.RequestId));
            }
        });
        CommonReceives(stepFinished: more =>
        {
            if (more) Kick();
        });
    }

    /// <summary>Waits for the digest step already sent (it may succeed or fail); sends no more.</summary>
    private void Stopping(StopDigest stop) => CommonReceives(stepFinished: _ =>
    {
        Become(Stopped);
        stop.ReplyTo.Tell(new DigestStopped(stop.RequestId));
    });

    private void Stopped()
    {
        Receive<StopDigest>(s => s.ReplyTo.Tell(new DigestStopped(s.RequestId)));
        CommonReceives(stepFinished: _ => { });
    }

    private void CommonReceives(Action<bool> stepFinished)
    {
        Receive<Checkpoint>(c =>
        {
            var rollover = new MetadataWriter.Rollover(Self, Requests.NextId());
            _checkpoints.Add(rollover.RequestId, c);
            _writer.Tell(rollover);
        });
        Receive<MetadataWriter.RolledOver>(r =>
        {
            if (!_checkpoints.Remove(r.RequestId, out var c)) return;
            c.ReplyTo.Tell(new CheckpointDone(c.RequestId, r.Era));
            if (r.HasDigestWork) Self.Tell(KickDigest.Instance);   // only Active acts on it
        });
        Receive<MetadataWriter.DigestProgressed>(p => p.RequestId == _stepInFlight, p =>
        {
            _stepInFlight = null;
            stepFinished(p.MoreWork);
        });
        Receive<Failed>(f =>
        {
            if (_checkpoints.Remove(f.RequestId, out var c)) c.Fail(f.Cause);
            else if (f.RequestId == _stepInFlight)
            {
                // The kernel logs "digest step failed, stopping digestion"; the writer has failed the volume.
                _log.Error(f.Cause, "digest step failed, stopping digestion");
                _stepInFlight = null;
                stepFinished(false);
            }
        });
        Receive<HoldWrites>(HandleHoldWrites);
        Receive<ReleaseWrites>(_ =>
        {
            _holding = false;
            _gate.ReleaseWrites();
        });
        Receive<KickDigest>(_ => { });   // not digesting in this behaviour
    }

    /// <summary>
    /// The hold is taken here, at once, so writes stop in the order holds were asked; the drain is waited for
    /// off this actor and answered straight to the requester.
    /// </summary>
    private void HandleHoldWrites(HoldWrites h)
    {
        var drained = _gate.HoldWritesAsync(CancellationToken.None);
        if (!drained.IsFaulted) _holding = true;
        drained.PipeTo(h.ReplyTo, success: () => new WritesHeld(h.RequestId), failure: e => new Failed(h.RequestId, e));
    }

    private void Kick()
    {
        if (_stepInFlight is not null) return;
        var step = new MetadataWriter.DigestStep(Self, Requests.NextId());
        _stepInFlight = step.RequestId;
        _writer.Tell(step);
    }

    protected override void PostStop()
    {
        var error = new VolumeStoppingException("(era manager)");
        foreach (var c in _checkpoints.Values) c.Fail(error);
        _checkpoints.Clear();
        // A hold nobody can release any more would stall the volume's writes for good.
        if (_holding) _gate.ReleaseWrites();
    }
}
