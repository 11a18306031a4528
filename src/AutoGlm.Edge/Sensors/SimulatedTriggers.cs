using System.Text;

namespace AutoGlm.Edge.Sensors;

/// <summary>A trigger fired by code: the <c>simulated</c> driver of a motion or button trigger, for tests and demos.</summary>
/// <remarks>Thread-safe.</remarks>
public sealed class SimulatedTrigger(string name) : ITriggerSource
{
    private Action<TriggerEvent>? _triggered;

    public string Name { get; } = name;

    public void Start(Action<TriggerEvent> triggered) => _triggered = triggered;

    /// <summary>Fires the trigger, as motion or a press would.</summary>
    /// <exception cref="InvalidOperationException">The trigger was not started.</exception>
    public void Fire(string? prompt = null) =>
        (_triggered ?? throw new InvalidOperationException($"the simulated trigger '{Name}' has not been started"))(new TriggerEvent(Name, prompt));

    public void Dispose() => _triggered = null;
}

/// <summary>A trigger that fires every <c>Every</c>, first one period after it starts, on the injected <see cref="TimeProvider"/>.</summary>
/// <remarks>Thread-safe. Owns its timer.</remarks>
public sealed class IntervalTrigger(string name, TimeSpan every, TimeProvider time) : ITriggerSource
{
    private ITimer? _timer;

    public string Name { get; } = name;

    /// <summary>The period.</summary>
    public TimeSpan Every { get; } = every;

    public void Start(Action<TriggerEvent> triggered) =>
        _timer = time.CreateTimer(_ => triggered(new TriggerEvent(Name)), null, Every, Every);

    public void Dispose() => _timer?.Dispose();
}

/// <summary>
/// A trigger fired by an MQTT message on <c>…/sensors/&lt;sensor&gt;/capture</c>; a non-empty UTF-8 payload is the prompt
/// for that capture. The sensor service routes the messages of its subscription here.
/// </summary>
/// <remarks>Thread-safe.</remarks>
public sealed class MqttCommandTrigger(string name, string topic) : ITriggerSource
{
    private Action<TriggerEvent>? _triggered;

    public string Name { get; } = name;

    /// <summary>The command topic.</summary>
    public string Topic { get; } = topic;

    public void Start(Action<TriggerEvent> triggered) => _triggered = triggered;

    /// <summary>Handles one command message; false when its payload is not UTF-8 (it is then ignored).</summary>
    public bool Receive(ReadOnlySpan<byte> payload)
    {
        string? prompt = null;
        if (!payload.IsEmpty)
        {
            try
            {
                prompt = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(payload).Trim();
            }
            catch (DecoderFallbackException)
            {
                return false;
            }
        }

        _triggered?.Invoke(new TriggerEvent(Name, string.IsNullOrEmpty(prompt) ? null : prompt));
        return true;
    }

    public void Dispose() => _triggered = null;
}
