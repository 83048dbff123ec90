using System.IO.Pipes;
using DmEra.Metadata.Era.Xml;
using Xunit;

namespace DmEra.Metadata.Tests.Xml;

/// <summary>The reader must stream: a 2^24-block dump passes through a pipe without being held.</summary>
/// <remarks>
/// Both bounds count only what this test does, so other tests and the machine's speed cannot move them:
/// how far the writer can get ahead of the reader (a pipe blocks its writer once its buffer is full, so
/// only a reader that holds the document lets the writer run far ahead), and what the reader keeps alive:
/// the heap after a full collection, against the same before the read. That second figure would count
/// what tests running beside it keep alive, so this test runs alone, in a collection that xunit runs after
/// the parallel ones (an earlier version bounded the live heap while others ran and failed 2 runs in 3).
/// Garbage is not a bound: the XML reader allocates ~72 bytes per element and frees them at once.
/// The RSS of a whole dump and restore is measured in bench/metadata.
/// </remarks>
[Collection(nameof(EraXmlStreamingTests))]
public sealed class EraXmlStreamingTests
{
    private const uint Blocks = 1 << 24;

    // The pipe's buffer (64 KiB), the writer's and the XML reader's buffers hold a few thousand
    // elements of ~35 bytes; 1M elements (~35 MiB) means the document is being held.
    private const long MaxLookaheadElements = 1 << 20;

    // Holding the text would keep > 1 GiB alive, one object per element > 384 MiB.
    private const long MaxRetainedBytes = 64L << 20;

    [Fact]
    public void Reader_streams_sixteen_million_eras_through_a_pipe_in_bounded_lookahead_and_allocation()
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        long written = 0;
        var producer = Task.Run(() =>
        {
            using (var text = EraXmlWriter.CreateStreamWriter(server, leaveOpen: true))
            {
                var writer = new EraXmlWriter(text);
                writer.SuperblockBegin("", 128, Blocks, 1000);
                writer.EraArrayBegin();
                for (uint b = 0; b < Blocks; b++)
                {
                    writer.Era(b, b % 1001);
                    Volatile.Write(ref written, b + 1L);
                }
                writer.EraArrayEnd();
                writer.SuperblockEnd();
            }
            server.Dispose(); // EOF for the reader
        });

        var counter = new CountingVisitor(() => Volatile.Read(ref written), GC.GetTotalMemory(forceFullCollection: true));
        EraXmlReader.Read(client, counter);
        producer.GetAwaiter().GetResult();

        Assert.Equal(Blocks, counter.Eras);
        Assert.Equal(Blocks - 1, counter.LastBlock);
        Assert.Equal((Blocks - 1) % 1001, counter.LastEra);
        Assert.True(counter.Ended);
        Assert.True(counter.MaxLookahead < MaxLookaheadElements,
            $"the writer got {counter.MaxLookahead} elements ahead of the reader: the document is being held");
        Assert.True(counter.MaxRetained < MaxRetainedBytes,
            $"the read kept {counter.MaxRetained >> 20} MiB alive: it holds what it has read");
    }

    private sealed class CountingVisitor(Func<long> writtenByProducer, long liveBefore) : IEraMetadataVisitor
    {
        public uint Eras, LastBlock, LastEra;
        public bool Ended;
        public long MaxLookahead, MaxRetained;

        public void SuperblockBegin(string uuid, uint blockSize, uint nrBlocks, uint currentEra) { }
        public void WritesetBegin(uint era, uint nrBits) { }
        public void WritesetBit(uint block, bool value) { }
        public void WritesetMarked(uint blockBegin, uint length) { }
        public void WritesetEnd() { }
        public void EraArrayBegin() { }

        public void Era(uint block, uint era)
        {
            Eras++;
            LastBlock = block;
            LastEra = era;
            if ((Eras & 0xFFFF) == 0) MaxLookahead = Math.Max(MaxLookahead, writtenByProducer() - Eras);
            // A full collection costs milliseconds on this small heap: eight of them in all.
            if ((Eras & 0x1FFFFF) == 0) MaxRetained = Math.Max(MaxRetained, GC.GetTotalMemory(forceFullCollection: true) - liveBefore);
        }

        public void EraArrayEnd() { }
        public void SuperblockEnd() => Ended = true;
    }
}

/// <summary>Runs <see cref="EraXmlStreamingTests"/> alone, after the parallel collections.</summary>
[CollectionDefinition(nameof(EraXmlStreamingTests), DisableParallelization = true)]
public sealed class EraXmlStreamingCollection;
