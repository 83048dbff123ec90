namespace DmEra.Crash.Tests.Recording;

/// <summary>
/// The client request an async flow is serving. The volume's request path runs in the caller's async
/// flow down to the origin device, so an AsyncLocal set around the call names, inside the origin device,
/// the request that caused each origin operation and the era the client knew when it sent it.
/// </summary>
public sealed record RequestContext(long Id, uint Era)
{
    private static readonly AsyncLocal<RequestContext?> CurrentContext = new();

    public static RequestContext? Current
    {
        get => CurrentContext.Value;
        set => CurrentContext.Value = value;
    }
}
