#nullable enable
using System.Diagnostics;
using System.IO.Pipes;
using DmEra.Metadata.Era.Xml;
using Xunit;

namespace DmEra.Metadata.Tests.Xml;

/// <summary>The reader must stream: a 2^24-block dump passes through a pipe without being held.</summary>
public sealed class EraXmlStreamingTests
{
    private const uint Blocks = 1 << 24;

    [Fact]
    public void Reader_streams_sixteen_million_eras_through_a_pipe_in_bounded_time_and_memory()
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        var producer = Task.Run(() =>
        {
            using (var text = EraXmlWriter.CreateStreamWriter(server, leaveOpen: true))
            {
                var writer = new EraXmlWriter(text);
                writer.SuperblockBegin("", 128, Blocks, 1000);
                writer.EraArrayBegin();
                for (uint b = 0; b < Blocks; b++) writer.Era(b, b % 1001);
                writer.EraArrayEnd();
                writer.SuperblockEnd();
            }
            server.Dispose(); // EOF for the reader
        });

        var clock = Stopwatch.StartNew();
        var counter = new CountingVisitor();
        EraXmlReader.Read(client, counter);
        producer.GetAwaiter().GetResult();

        Assert.Equal(Blocks, counter.Eras);
        Assert.Equal(Blocks - 1, counter.LastBlock);
        Assert.Equal((Blocks - 1) % 1001, counter.LastEra);
        Assert.True(counter.Ended);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(45), $"took {clock.Elapsed}");
        // ~550 MB of XML went through; holding it, or one object per element, would be gigabytes.
        Assert.True(counter.PeakHeapBytes < 256L << 20, $"managed heap reached {counter.PeakHeapBytes >> 20} MiB");
    }

    private sealed class CountingVisitor : IEraMetadataVisitor
    {
        public uint Eras, LastBlock, LastEra;
        public bool Ended;
        public long PeakHeapBytes;

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
            if ((Eras & 0xFFFFF) == 0) PeakHeapBytes = Math.Max(PeakHeapBytes, GC.GetTotalMemory(false));
        }

        public void EraArrayEnd() { }
        public void SuperblockEnd() => Ended = true;
    }
}
