using Akka.Actor;
using Akka.Event;
using static DmEra.Engine.Actors.EraManager;

namespace DmEra.Engine.Actors;

internal sealed class EraManagerActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _writer;
    // The writer answers in the order it was asked, so replies match this queue's head.
    private readonly Queue<TaskCompletionSource<uint>> _checkpoints = new();
    private bool _stepInFlight;

    public EraManagerActor(IActorRef writer)
    {
        _writer = writer;
        Active();
    }

    /// <summary>Checkpoints, and one digest step in flight at a time while archived writesets remain.</summary>
    private void Active()
    {
        // Registered before CommonReceives: a ReceiveActor takes the first matching handler.
        Receive<KickDigest>(_ => Kick());
        Receive<StopDigest>(s =>
        {
            if (_stepInFlight) Become(() => Stopping(s.ReplyTo));
            else
            {
                Become(Stopped);
                s.ReplyTo.Tell(new DigestStopped());
            }
        });
        CommonReceives(stepFinished: more =>
        {
            if (more) Kick();
        });
    }

    /// <summary>Waits for the digest step already sent (it may succeed or fail); sends no more.</summary>
    private void Stopping(IActorRef replyTo) => CommonReceives(stepFinished: _ =>
    {
        Become(Stopped);
        replyTo.Tell(new DigestStopped());
    });

    private void Stopped()
    {
        Receive<StopDigest>(s => s.ReplyTo.Tell(new DigestStopped()));
        CommonReceives(stepFinished: _ => { });
    }

    private void CommonReceives(Action<bool> stepFinished)
    {
        Receive<Checkpoint>(c =>
        {
            _checkpoints.Enqueue(c.Reply);
            _writer.Tell(new MetadataWriter.Rollover(Self));
        });
        Receive<MetadataWriter.RolledOver>(r =>
        {
            _checkpoints.Dequeue().TrySetResult(r.Era);
            if (r.HasDigestWork) Self.Tell(KickDigest.Instance);   // only Active acts on it
        });
        Receive<MetadataWriter.OperationFailed>(f => f.Request is MetadataWriter.Rollover, f =>
            _checkpoints.Dequeue().TrySetException(f.Cause));
        Receive<MetadataWriter.DigestProgressed>(p =>
        {
            _stepInFlight = false;
            stepFinished(p.MoreWork);
        });
        Receive<MetadataWriter.OperationFailed>(f => f.Request is MetadataWriter.DigestStep, f =>
        {
            // The kernel logs "digest step failed, stopping digestion"; the writer has failed the volume.
            _log.Error(f.Cause, "digest step failed, stopping digestion");
            _stepInFlight = false;
            stepFinished(false);
        });
        Receive<KickDigest>(_ => { });   // not digesting in this behaviour
    }

    private void Kick()
    {
        if (_stepInFlight) return;
        _stepInFlight = true;
        _writer.Tell(new MetadataWriter.DigestStep(Self));
    }

    protected override void PostStop()
    {
        var error = new VolumeStoppingException("(era manager)");
        while (_checkpoints.TryDequeue(out var c)) c.TrySetException(error);
    }
}
