namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// Lets a warning through at most once per interval and counts the ones held back, so that a flood of bad input
/// (a client retrying with a forbidden response topic, a password guesser) cannot flood the log.
/// </summary>
/// <remarks>Thread-safe.</remarks>
public sealed class LogThrottle
{
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly Lock _gate = new();
    private long _nextAllowed = long.MinValue;
    private int _held;

    /// <param name="time">The clock.</param>
    /// <param name="interval">The least time between two warnings that get through.</param>
    public LogThrottle(TimeProvider time, TimeSpan interval)
    {
        _time = time;
        _interval = interval;
    }

    /// <summary>
    /// Whether this occurrence is logged; when it is, <paramref name="heldBack"/> says how many were not logged since
    /// the last one that was.
    /// </summary>
    public bool ShouldLog(out int heldBack)
    {
        var now = _time.GetUtcNow().UtcTicks;
        lock (_gate)
        {
            if (now < _nextAllowed)
            {
                _held++;
                heldBack = 0;
                return false;
            }

            heldBack = _held;
            _held = 0;
            _nextAllowed = now + _interval.Ticks;
            return true;
        }
    }
}
