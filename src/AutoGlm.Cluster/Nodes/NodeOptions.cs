namespace AutoGlm.Cluster.Nodes;

/// <summary>One heavy node (<c>Cluster:Nodes:N</c>).</summary>
public sealed class NodeOptions
{
    /// <summary>The OpenAI-compatible base URL, ending in <c>/v1</c> (<c>http://gpu-node:8000/v1</c>). Required.</summary>
    public string Url { get; set; } = "";

    /// <summary>The bearer key the node requires (its <c>Http:ApiKeys</c>); empty when it requires none.</summary>
    public string? ApiKey { get; set; }

    /// <summary>The model id to ask for; empty means the local engine's model id. Default empty.</summary>
    public string? Model { get; set; }

    /// <summary>Share of traffic relative to other nodes: outstanding requests are divided by it. Default 1.</summary>
    public double Weight { get; set; } = 1;

    /// <summary>
    /// The MQTT bridge (<c>Cluster:Nodes:N:Mqtt</c>): with <see cref="MqttNodeOptions.Topic"/> set, the node is reached
    /// through a broker instead of HTTP, and <see cref="Url"/> stays empty.
    /// </summary>
    public MqttNodeOptions Mqtt { get; set; } = new();

    /// <summary>Whether the node is reached through the broker.</summary>
    public bool IsMqtt => !string.IsNullOrEmpty(Mqtt.Topic);
}

/// <summary>A heavy node reached through an MQTT broker (<c>Cluster:Nodes:N:Mqtt</c>), for sites where only the broker is reachable.</summary>
public sealed class MqttNodeOptions
{
    /// <summary>The heavy device's topic prefix (its <c>Mqtt:TopicPrefix</c>, by default <c>autoglm/&lt;device-id&gt;</c>). Empty: not a bridge node.</summary>
    public string Topic { get; set; } = "";

    /// <summary>The broker's host. Default 127.0.0.1.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>The broker's port. Default 1883.</summary>
    public int Port { get; set; } = 1883;

    /// <summary>The broker user name; empty for none.</summary>
    public string? Username { get; set; }

    /// <summary>The broker password; a secret reference (<c>env:</c>, <c>file:</c>) like every password.</summary>
    public string? Password { get; set; }
}
