using System.Text;
using DmEra.Metadata.Era.Xml;

namespace DmEra.Tools;

/// <summary>
/// Where a tool's XML goes: stdout, or a file created only once the input proved readable and deleted
/// again if the tool fails half-way, so a failed run never leaves a plausible-looking partial file.
/// </summary>
internal sealed class OutputFile : IDisposable
{
    private readonly string? _path;
    private readonly Stream _stream;
    private bool _completed;

    public OutputFile(string? path)
    {
        _path = path is null or "-" ? null : path;
        _stream = _path is null
            ? Console.OpenStandardOutput()
            : new FileStream(_path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        Writer = EraXmlWriter.CreateStreamWriter(_stream, leaveOpen: true);
    }

    public StreamWriter Writer { get; }

    public void Complete()
    {
        Writer.Flush();
        _stream.Flush();
        _completed = true;
    }

    public void Dispose()
    {
        try
        {
            Writer.Dispose();
        }
        catch (IOException) when (!_completed)
        {
        }
        _stream.Dispose();
        if (!_completed && _path is not null) File.Delete(_path);
    }
}
