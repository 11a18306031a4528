namespace AutoGlm.Edge.Sensors;

/// <summary>What the status LED shows.</summary>
public enum LedState
{
    /// <summary>Nothing outstanding: off.</summary>
    Idle,

    /// <summary>A capture or a job is outstanding: on.</summary>
    Busy,

    /// <summary>The last capture, publish or job failed: blinking, until the next success.</summary>
    Error,
}

/// <summary>A status LED.</summary>
/// <remarks>Thread-safe: <see cref="Show"/> may be called from any thread. The owner disposes it (which turns it off).</remarks>
public interface IStatusLed : IDisposable
{
    /// <summary>Shows <paramref name="state"/>; showing the state already shown does nothing.</summary>
    void Show(LedState state);
}
