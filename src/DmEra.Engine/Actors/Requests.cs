using System.Runtime.ExceptionServices;
using Akka.Actor;

namespace DmEra.Engine.Actors;

/// <summary>
/// The one reply convention of the volume's actors: every request names who gets the answer and carries an
/// id the answer repeats, so a requester with several requests out matches each answer by id (never by the
/// order of its queue). Whatever a request's success reply, its failure is one <see cref="Failed"/>.
/// </summary>
public interface IRequest
{
    IActorRef ReplyTo { get; }
    long RequestId { get; }
}

/// <summary>The reply to any <see cref="IRequest"/> that could not be carried out; <see cref="Cause"/> is what the caller sees thrown.</summary>
public sealed record Failed(long RequestId, Exception Cause);

public static class Requests
{
    private static long _lastId;

    /// <summary>Unique in the process, so ids from different requesters never collide at a shared actor.</summary>
    public static long NextId() => Interlocked.Increment(ref _lastId);

    public static void Fail(this IRequest request, Exception cause) => request.ReplyTo.Tell(new Failed(request.RequestId, cause));

    /// <summary>
    /// Asks from outside the actors (the facade): the reply of type <typeparamref name="T"/>, or the cause of a
    /// <see cref="Failed"/> rethrown as it was (a caller catches <c>VolumeFailedException</c>,
    /// <c>EraMessageException</c> and the like, not a wrapper). Akka's Ask completes off the actor's thread.
    /// </summary>
    public static async Task<T> AskFor<T>(this IActorRef target, Func<IActorRef, long, IRequest> request, CancellationToken cancellationToken = default)
    {
        var reply = await target.Ask<object>(replyTo => request(replyTo, NextId()), null, cancellationToken).ConfigureAwait(false);
        switch (reply)
        {
            case T answer: return answer;
            case Failed failed:
                ExceptionDispatchInfo.Capture(failed.Cause).Throw();
                throw failed.Cause;   // not reached
            default: throw new InvalidOperationException($"{target.Path.Name} answered {reply.GetType().Name} where {typeof(T).Name} was expected");
        }
    }
}
