namespace AutoGlm.Edge.HomeAssistant;

/// <summary>Home Assistant MQTT discovery (<c>Mqtt:HomeAssistant</c>).</summary>
public sealed class HomeAssistantOptions
{
    /// <summary>Publish discovery configs so the device appears in Home Assistant by itself. Default false.</summary>
    public bool Enabled { get; set; }

    /// <summary>Home Assistant's discovery prefix. Default <c>homeassistant</c> (as Home Assistant's own default).</summary>
    public string DiscoveryPrefix { get; set; } = "homeassistant";
}
