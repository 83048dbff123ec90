using System.CommandLine;
using DmEra.Metadata;
using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.Era.Xml;
using DmEra.Metadata.PersistentData;

namespace DmEra.Tools;

/// <summary>dmera restore: era XML into fresh metadata on a preallocated file or device (era_restore).</summary>
internal static class RestoreTool
{
    /// <summary>The smallest output the space map can lay itself out in (era_restore asks for 32 KiB too).</summary>
    private const long MinimumOutputBytes = 8 * MetadataBlock.Size;

    public static Command Create()
    {
        var input = new Option<string>("--input", "-i") { Description = "Era XML to restore", HelpName = "input xml file" };
        var output = new Option<string>("--output", "-o") { Description = "Preallocated metadata file or device to write", HelpName = "output device or file" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress output" };
        var command = new Command("restore", "Write era metadata from XML (era_restore)") { input, output, quiet };
        command.SetAction(parse => ToolRun.Guarded(() =>
            Run(parse.GetValue(input), parse.GetValue(output), parse.GetValue(quiet))));
        return command;
    }

    private static int Run(string? inputPath, string? outputPath, bool quiet)
    {
        if (inputPath is null) throw new MetadataException("No input file provided.");
        if (outputPath is null) throw new MetadataException("No output file provided.");
        if (Directory.Exists(inputPath)) throw new MetadataException($"{inputPath}: Not a regular file");
        if (!File.Exists(inputPath)) throw new MetadataException($"{inputPath}: No such file or directory");
        using var xml = new FileStream(inputPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using var device = MetadataDevice.Open(outputPath, writable: true, DeviceLock.Exclusive);
        if (device.BlockCount == 0) throw new MetadataException("Zero size output file.");
        if (device.BlockCount * MetadataBlock.Size < MinimumOutputBytes) throw new MetadataException("Output file too small.");

        // Whatever happens next, the old superblock must not survive over half-written trees.
        device.Write(0, new byte[MetadataBlock.Size]);
        device.Flush();
        using var progress = TerminalProgress.Start("restoring", xml.Length, quiet);
        var restorer = new MetadataRestorer(device);
        EraXmlReader.Read(new ProgressStream(xml, progress), restorer);
        if (!restorer.Completed) throw new MetadataException("input ended before the superblock was complete");
        return 0;
    }

    /// <summary>Reports how far through the input the parser is.</summary>
    private sealed class ProgressStream(Stream inner, IProgress<long>? progress) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = inner.Read(buffer, offset, count);
            progress?.Report(inner.Position);
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
