namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// The MQTT side of the daemon could not start: the embedded broker cannot listen where <c>Mqtt:Host</c> and
/// <c>Mqtt:Port</c> say (the port is taken, the address is not on this machine). The message is one line that names
/// the endpoint and the configuration keys; the CLI prints it without a stack trace.
/// </summary>
public sealed class MqttException : Exception
{
    public MqttException(string message, string configKey, Exception? innerException = null)
        : base(message, innerException)
    {
        ConfigKey = configKey;
    }

    /// <summary>The configuration key to change (<c>Mqtt:Port</c>, <c>Mqtt:Host</c>).</summary>
    public string ConfigKey { get; }
}
