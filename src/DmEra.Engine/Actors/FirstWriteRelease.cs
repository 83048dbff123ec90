using DmEra.Storage;

namespace DmEra.Engine.Actors;

/// <summary>
/// Completes first-writes off the metadata writer's pinned thread: their continuations issue origin I/O and
/// send replies, which must never hold up the next commit. One thread-pool work item per commit runs the
/// whole batch's continuations in turn, instead of one wake-up of a pool thread per request, as one
/// <see cref="CompletionBatch"/>: each connection sends the batch's replies together at its end.
/// </summary>
internal static class FirstWriteRelease
{
    public static void Succeed(MetadataWriter.FirstWrite[] batch) =>
        ThreadPool.UnsafeQueueUserWorkItem(static b => CompletionBatch.Run(b, static b => { foreach (var w in b) w.Durable.TrySetResult(); }),
            batch, preferLocal: false);

    public static void Fail(MetadataWriter.FirstWrite[] batch, Exception error) =>
        ThreadPool.UnsafeQueueUserWorkItem(static s => CompletionBatch.Run(s, static s => { foreach (var w in s.batch) w.Durable.TrySetException(s.error); }),
            (batch, error), preferLocal: false);
}
