namespace AutoGlm.Edge.Hosting;

/// <summary>
/// The daemon cannot start because of something outside the code: a resource it needs (the state folder, a port) or a
/// configuration value. The message names the resource and the key that sets it, and is printed as one line.
/// </summary>
public sealed class StartupException : Exception
{
    public StartupException(string message)
        : base(message)
    {
    }

    public StartupException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
