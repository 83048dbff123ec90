#nullable enable
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

    private void Active()
    {
        CommonReceives();
        Receive<KickDigest>(_ => Kick());
        Receive<MetadataWriter.RolledOver>(r =>
        {
            _checkpoints.Dequeue().TrySetResult(r.Era);
            if (r.HasDigestWork) Kick();
        });
        Receive<MetadataWriter.DigestProgressed>(p =>
        {
            _stepInFlight = false;
            if (p.MoreWork) Kick();
        });
        Receive<StopDigest>(s =>
        {
            if (_stepInFlight) Become(() => Stopping(s.ReplyTo));
            else
            {
                Become(Stopped);
                s.ReplyTo.Tell(new DigestStopped());
            }
        });
    }

    /// <summary>Waits for the digest step already sent; sends no more.</summary>
    private void Stopping(IActorRef replyTo)
    {
        CommonReceives();
        Receive<MetadataWriter.RolledOver>(r => _checkpoints.Dequeue().TrySetResult(r.Era));
        Receive<MetadataWriter.DigestProgressed>(_ =>
        {
            _stepInFlight = false;
            Become(Stopped);
            replyTo.Tell(new DigestStopped());
        });
    }

    private void Stopped()
    {
        CommonReceives();
        Receive<MetadataWriter.RolledOver>(r => _checkpoints.Dequeue().TrySetResult(r.Era));
        Receive<StopDigest>(s => s.ReplyTo.Tell(new DigestStopped()));
    }

    private void CommonReceives()
    {
        Receive<Checkpoint>(c =>
        {
            _checkpoints.Enqueue(c.Reply);
            _writer.Tell(new MetadataWriter.Rollover(Self));
        });
        Receive<MetadataWriter.OperationFailed>(f => f.Request is MetadataWriter.Rollover, f =>
            _checkpoints.Dequeue().TrySetException(f.Cause));
        Receive<MetadataWriter.OperationFailed>(f => f.Request is MetadataWriter.DigestStep, f =>
        {
            // The kernel logs "digest step failed, stopping digestion"; the writer has failed the volume.
            _log.Error(f.Cause, "digest step failed, stopping digestion");
            _stepInFlight = false;
            Become(Stopped);
        });
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
