using System.Reflection;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Server;

namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// Gives a client that connected without an id one of its own, where the protocol allows it: MQTT 5 always (the id is
/// sent back in the CONNACK), MQTT 3.1.1 with a clean session ([MQTT-3.1.3-6]; a 3.1.1 client asking for a persistent
/// session without an id is refused [MQTT-3.1.3-8]), never MQTT 3.1, which requires one. Mosquitto does the same, and
/// sensor firmware (PubSubClient, Tasmota) and <c>mosquitto_pub -V mqttv311</c> rely on it.
/// </summary>
public static class ClientIds
{
    // MQTTnet assigns ids to MQTT 5 clients only and gives 3.1.1 no way to, so the id goes into the CONNECT packet the
    // event wraps. The test with mosquitto_pub -V mqttv311 fails if a new MQTTnet moves this field.
    private static readonly FieldInfo? ConnectPacketField =
        typeof(ValidatingConnectionEventArgs).GetField("_connectPacket", BindingFlags.Instance | BindingFlags.NonPublic);

    /// <summary>A new id in Mosquitto's style (<c>auto-</c> and 32 hex digits).</summary>
    public static string New() => "auto-" + Guid.NewGuid().ToString("N");

    /// <summary>Assigns an id to the connecting client <paramref name="e"/>, which has none; false where the protocol forbids it.</summary>
    public static bool AssignIfAllowed(ValidatingConnectionEventArgs e)
    {
        switch (e.ProtocolVersion)
        {
            case MqttProtocolVersion.V500:
                e.AssignedClientIdentifier = New();
                return true;
            case MqttProtocolVersion.V311 when e.CleanSession == true && ConnectPacketField?.GetValue(e) is MqttConnectPacket packet:
                packet.ClientId = New();
                return true;
            default:
                return false;
        }
    }
}
