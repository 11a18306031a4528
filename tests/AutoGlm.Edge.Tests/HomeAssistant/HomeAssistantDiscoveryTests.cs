using System.Globalization;
using System.Text.Json;
using AutoGlm.Edge.Tests.Http;
using AutoGlm.Edge.Tests.Sensors;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.HomeAssistant;

/// <summary>
/// The device as Home Assistant sees it over MQTT: an availability topic with only <c>online</c>/<c>offline</c> (the
/// last will included), retained discovery configs that use Home Assistant's documented keys, buttons that capture,
/// and configs of removed entities cleared.
/// </summary>
public sealed class HomeAssistantDiscoveryTests
{
    // Keys Home Assistant's MQTT sensor, binary_sensor and button platforms document, and the shared ones (device, origin, availability).
    private static readonly HashSet<string> Common = ["name", "unique_id", "default_entity_id", "availability_topic", "payload_available", "payload_not_available", "device", "origin", "icon", "entity_category"];
    private static readonly Dictionary<string, (string[] Required, string[] Optional)> Platforms = new()
    {
        ["sensor"] = (["state_topic"], ["value_template", "unit_of_measurement", "state_class", "device_class", "json_attributes_topic"]),
        ["binary_sensor"] = (["state_topic"], ["value_template", "device_class", "payload_on", "payload_off"]),
        ["button"] = (["command_topic"], ["payload_press"]),
    };

    [FactNeeding("mosquitto")]
    public async Task Availability_ExternalBroker_OnlineWhileRunningAndOfflineAsTheLastWill()
    {
        await using var mosquitto = await MosquittoBroker.StartAsync();
        var device = "ha" + Guid.NewGuid().ToString("N")[..6];
        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Mqtt__Broker"] = "external",
            ["Mqtt__Host"] = "127.0.0.1",
            ["Mqtt__Port"] = mosquitto.Port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__DeviceId"] = device,
        });
        await daemon.StartAsync();
        await using var watcher = await TestMqttClient.ConnectAsync(mosquitto.Port, persistent: false, $"autoglm/{device}/availability");

        await watcher.WaitForAsync(m => m.Text == "online", "online on the availability topic");
        await daemon.KillAsync();
        var offline = await watcher.WaitForAsync(m => m.Text == "offline", "the last will on the availability topic");

        Assert.All(watcher.Messages, m => Assert.Contains(m.Text, new[] { "online", "offline" }));
        Assert.Equal($"autoglm/{device}/availability", offline.Topic);
    }

    [Fact]
    public async Task Discovery_Enabled_PublishesValidRetainedConfigsAndTheCaptureButtonWorks()
    {
        var port = TestPaths.FreePort();
        var device = "ha" + Guid.NewGuid().ToString("N")[..6];
        var frames = TestPaths.NewFolder("frames");
        await File.WriteAllBytesAsync(Path.Combine(frames, "000.jpg"), TestFrames.Jpeg(1));
        await using var server = await EdgeServer.StartAsync(
            $"Mqtt:Port={port.ToString(CultureInfo.InvariantCulture)}",
            $"Mqtt:DeviceId={device}",
            "Mqtt:HomeAssistant:Enabled=true",
            "Mqtt:Rules:0:Name=frigate-person",
            "Mqtt:Rules:0:Topic=frigate/events",
            "Sensors:Devices:0:Name=porch",
            "Sensors:Devices:0:Kind=camera",
            "Sensors:Devices:0:Driver=file",
            $"Sensors:Devices:0:Path={frames}",
            "Sensors:Devices:0:MaxTokens=3",
            "Sensors:Devices:0:Triggers:0:Kind=mqtt");
        await using var ha = await TestMqttClient.ConnectAsync(port, persistent: false, "homeassistant/#", $"autoglm/{device}/sources/+/answer");
        string[] expected =
        [
            "sensor/queue_depth", "sensor/decode_tokens_per_second", "sensor/jobs_done", "sensor/jobs_failed", "sensor/model",
            "sensor/execution_provider", "binary_sensor/busy", "sensor/porch_answer", "button/porch_capture", "sensor/frigate-person_answer",
        ];
        string Topic(string entity) => $"homeassistant/{entity.Split('/')[0]}/{device}/{entity.Split('/')[1].Replace('-', '_')}/config";

        await Poll.UntilAsync(() => expected.All(e => ha.Messages.Any(m => m.Topic == Topic(e))), "every discovery config");

        var configs = expected.ToDictionary(e => e, e => ha.Messages.Last(m => m.Topic == Topic(e)));
        Assert.Equal(expected.Length, ha.Messages.Where(m => m.Topic.StartsWith("homeassistant/", StringComparison.Ordinal)).Select(m => m.Topic).Distinct().Count());
        var uniqueIds = new HashSet<string>();
        foreach (var (entity, message) in configs)
        {
            var platform = Platforms[entity.Split('/')[0]];
            var config = message.Json;
            foreach (var property in config.EnumerateObject())
            {
                Assert.True(Common.Contains(property.Name) || platform.Required.Contains(property.Name) || platform.Optional.Contains(property.Name), $"{entity}: '{property.Name}' is not a documented key");
            }

            Assert.All(platform.Required, key => Assert.True(config.TryGetProperty(key, out _), $"{entity} lacks {key}"));
            Assert.True(uniqueIds.Add(config.GetProperty("unique_id").GetString()!), $"{entity}: unique_id is not unique");
            Assert.Equal($"autoglm/{device}/availability", config.GetProperty("availability_topic").GetString());
            Assert.StartsWith(entity.Split('/')[0] + ".autoglm_", config.GetProperty("default_entity_id").GetString(), StringComparison.Ordinal);
            Assert.Equal($"autoglm_{device}", config.GetProperty("device").GetProperty("identifiers")[0].GetString());
        }

        Assert.Equal($"autoglm/{device}/stats", configs["sensor/queue_depth"].Json.GetProperty("state_topic").GetString());
        Assert.Equal($"autoglm/{device}/sources/porch/answer", configs["sensor/porch_answer"].Json.GetProperty("state_topic").GetString());

        // The button is what Home Assistant publishes when it is pressed: the camera captures and its answer follows.
        var button = configs["button/porch_capture"].Json;
        await ha.PublishAsync(button.GetProperty("command_topic").GetString()!, button.GetProperty("payload_press").GetString()!);
        var answer = await ha.WaitForTopicAsync($"autoglm/{device}/sources/porch/answer");
        Assert.True(answer.ErrorCode is null, answer.Text);
        server.Logs.AssertNoErrors();
    }

    [Fact]
    public async Task Discovery_RuleRemovedBetweenStarts_ItsConfigIsCleared()
    {
        var port = TestPaths.FreePort();
        var device = "ha" + Guid.NewGuid().ToString("N")[..6];
        var settings = new Dictionary<string, string>
        {
            ["Mqtt__Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__DeviceId"] = device,
            ["Mqtt__HomeAssistant__Enabled"] = "true",
            ["Mqtt__Rules__0__Name"] = "doorbell",
            ["Mqtt__Rules__0__Topic"] = "zigbee2mqtt/doorbell",
        };
        var state = TestPaths.NewFolder("state");
        var ruleConfig = $"homeassistant/sensor/{device}/doorbell_answer/config";
        // Not disposed until the end: disposing a DaemonProcess deletes its state folder, which holds the broker's retained messages.
        await using var first = new DaemonProcess(state, settings);
        await first.StartAsync();
        await using (var ha = await TestMqttClient.ConnectAsync(port, persistent: false, "homeassistant/#"))
        {
            await ha.WaitForAsync(m => m.Topic == ruleConfig && m.Payload.Length > 0, "the rule's config");
        }

        await first.TerminateAsync();

        settings.Remove("Mqtt__Rules__0__Name");
        settings.Remove("Mqtt__Rules__0__Topic");
        await using var second = new DaemonProcess(state, settings);
        await second.StartAsync();
        await Poll.UntilAsync(() => second.Lines.Any(l => l.Contains("cleared 1 that this configuration no longer has", StringComparison.Ordinal)), "the stale config cleared");

        // What the broker now retains for a Home Assistant that connects: the other configs, not the rule's.
        await using var later = await TestMqttClient.ConnectAsync(port, persistent: false, "homeassistant/#");
        await Poll.UntilAsync(() => later.Messages.Any(m => m.Topic.EndsWith("/queue_depth/config", StringComparison.Ordinal)), "the other configs");
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.DoesNotContain(later.Messages, m => m.Topic == ruleConfig);
        second.AssertNoUnexpectedErrors();
    }
}
