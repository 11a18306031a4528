namespace AutoGlm.Edge.Sensors;

/// <summary>A status LED that records what it was told to show: the <c>simulated</c> driver, for tests.</summary>
/// <remarks>Thread-safe.</remarks>
public sealed class SimulatedStatusLed : IStatusLed
{
    private readonly Lock _lock = new();
    private readonly List<LedState> _states = [LedState.Idle];

    /// <summary>Every state shown, in order, starting with <see cref="LedState.Idle"/>; repeats are not recorded.</summary>
    public IReadOnlyList<LedState> States
    {
        get
        {
            lock (_lock)
            {
                return [.. _states];
            }
        }
    }

    /// <summary>The state shown now.</summary>
    public LedState Current
    {
        get
        {
            lock (_lock)
            {
                return _states[^1];
            }
        }
    }

    public void Show(LedState state)
    {
        lock (_lock)
        {
            if (_states[^1] != state)
            {
                _states.Add(state);
            }
        }
    }

    public void Dispose()
    {
    }
}
