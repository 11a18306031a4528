namespace AutoGlm.Edge.Sensors;

/// <summary>One trigger: which trigger fired, and a prompt that replaces the sensor's template (from an MQTT command), if any.</summary>
/// <param name="Trigger">The trigger's name (<c>motion</c>, <c>button</c>, <c>interval</c>, <c>mqtt</c>, or its configured name).</param>
/// <param name="Prompt">A prompt for this capture only, or null for the sensor's template.</param>
public sealed record TriggerEvent(string Trigger, string? Prompt = null);

/// <summary>Something that makes a sensor capture: a motion sensor, a button, a timer, an MQTT command, or a test.</summary>
/// <remarks>
/// <see cref="Start"/> is called once; afterwards the source calls the callback once per trigger, from any thread, and
/// must not block on it (the callback only queues). Disposing stops it. The owner disposes it.
/// </remarks>
public interface ITriggerSource : IDisposable
{
    /// <summary>The trigger's name, as <see cref="TriggerEvent.Trigger"/> carries it.</summary>
    string Name { get; }

    /// <summary>Starts raising triggers.</summary>
    /// <exception cref="SensorException">The hardware is missing or failed; the message names the device node and the key.</exception>
    void Start(Action<TriggerEvent> triggered);
}
