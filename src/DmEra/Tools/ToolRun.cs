using DmEra.Metadata;

namespace DmEra.Tools;

/// <summary>
/// How every era tool ends: exit 0 or 1 as the C++ tools do, a one-line error on stderr, never a
/// stack trace. A reader that closed the pipe (dmera dump | head) is not an error worth a message.
/// </summary>
internal static class ToolRun
{
    public static int Guarded(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (MetadataException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
        catch (IOException e) when (IsBrokenPipe(e))
        {
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
    }

    private static bool IsBrokenPipe(IOException e) =>
        e.HResult == 32 || e.Message.Contains("Broken pipe", StringComparison.OrdinalIgnoreCase);
}
