namespace AutoGlm.Edge.Sensors;

/// <summary>
/// A sensor could not start or capture: its device node is missing, its driver failed, or its file is unreadable.
/// The message names the device (node, file) and the configuration key that chose it.
/// </summary>
public sealed class SensorException : Exception
{
    public SensorException(string message, string configKey, Exception? innerException = null)
        : base(message, innerException)
    {
        ConfigKey = configKey;
    }

    /// <summary>The configuration key that chose the failing device (<c>Sensors:Devices:0:Device</c>).</summary>
    public string ConfigKey { get; }
}
