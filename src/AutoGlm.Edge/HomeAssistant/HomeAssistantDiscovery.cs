using AutoGlm.Cluster.Contract;
using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using AutoGlm.Edge.Mqtt;
using AutoGlm.Edge.Sensors;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;

namespace AutoGlm.Edge.HomeAssistant;

/// <summary>
/// The device's presence on MQTT, as Home Assistant and Frigate expect it: a client of its own keeps
/// <c>…/availability</c> at <c>online</c> while the daemon runs and leaves <c>offline</c> as its last will; with
/// <c>Mqtt:HomeAssistant:Enabled</c> it also publishes retained MQTT discovery configs
/// (<c>homeassistant/&lt;component&gt;/&lt;node&gt;/&lt;object&gt;/config</c>) for the device's sensors, busy state,
/// each source's latest answer and each capture button, and clears the ones a previous configuration published that
/// this one no longer has.
/// </summary>
public sealed partial class HomeAssistantDiscovery : IHostedService, IAsyncDisposable
{
    // Retained configs arrive right after the subscription; how long to wait for them before clearing stale ones.
    private static readonly TimeSpan RetainedSettle = TimeSpan.FromSeconds(2);

    private readonly MqttOptions _mqtt;
    private readonly MqttTopics _topics;
    private readonly SensorsOptions _sensors;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, bool> _seen = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private MqttConnection? _connection;
    private Task? _starting;
    private int _disposed;

    public HomeAssistantDiscovery(MqttOptions mqtt, MqttTopics topics, IOptions<SensorsOptions> sensors, TimeProvider time, ILoggerFactory loggerFactory)
    {
        _mqtt = mqtt;
        _topics = topics;
        _sensors = sensors.Value;
        _time = time;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<HomeAssistantDiscovery>();
        NodeId = NodeChars().Replace(mqtt.ResolvedDeviceId, "_");
    }

    /// <summary>The node id in discovery topics and unique ids: the device id with characters outside <c>A-Z a-z 0-9 _ -</c> replaced.</summary>
    public string NodeId { get; }

    /// <summary>The client's MQTT id: <c>&lt;Mqtt:ClientId&gt;-presence</c>.</summary>
    public string ClientId => _mqtt.ResolvedClientId + "-presence";

    private HomeAssistantOptions Options => _mqtt.HomeAssistant;

    private string ConfigFilter => $"{Options.DiscoveryPrefix}/+/{NodeId}/+/config";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _connection = new MqttConnection(
            _mqtt,
            _topics,
            _time,
            _loggerFactory.CreateLogger<MqttConnection>(),
            new MqttClientProfile(ClientId, Options.Enabled ? [ConfigFilter] : [], AnnouncesStatus: false, KeepsSession: false, AnnouncesAvailability: true));
        if (Options.Enabled)
        {
            _connection.MessageReceived = e =>
            {
                // What is retained under this node: configs of this or an earlier configuration (an empty one is already cleared).
                _seen[e.ApplicationMessage.Topic] = e.ApplicationMessage.Payload.Length > 0;
                return Task.CompletedTask;
            };
            _connection.Connected = PublishConfigsAsync;
        }

        // In the background: presence is no reason to hold up the start while an external broker is away.
        var connection = _connection;
        _starting = Task.Run(
            async () =>
            {
                try
                {
                    await connection.StartAsync(_stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            },
            CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_connection is null || _stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _starting!.ConfigureAwait(false);
        await _connection.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops (if running) and releases the client; idempotent, since the container disposes it both as itself and as a hosted service.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    /// <summary>The discovery configs of this configuration, by topic.</summary>
    public IReadOnlyDictionary<string, JsonObject> Configs()
    {
        var configs = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        void Add(string component, string objectId, string name, JsonObject config)
        {
            config["name"] = name;
            config["unique_id"] = $"autoglm_{NodeId}_{objectId}";
            // default_entity_id replaced object_id in Home Assistant 2025.10 (object_id stops working in 2026.4).
            config["default_entity_id"] = $"{component}.autoglm_{NodeId}_{objectId}";
            config["availability_topic"] = _topics.Availability;
            config["payload_available"] = "online";
            config["payload_not_available"] = "offline";
            config["device"] = Device();
            config["origin"] = new JsonObject { ["name"] = "AutoGlm.Edge", ["sw_version"] = Version };
            configs[$"{Options.DiscoveryPrefix}/{component}/{NodeId}/{objectId}/config"] = config;
        }

        JsonObject Stat(string field, string? unit = null, string? stateClass = "measurement", string? icon = null)
        {
            var config = new JsonObject
            {
                ["state_topic"] = _topics.Stats,
                ["value_template"] = $"{{{{ value_json.{field} }}}}",
            };
            if (unit is not null)
            {
                config["unit_of_measurement"] = unit;
            }

            if (stateClass is not null)
            {
                config["state_class"] = stateClass;
            }

            if (icon is not null)
            {
                config["icon"] = icon;
            }

            return config;
        }

        JsonObject Status(string field, string icon) => new()
        {
            ["state_topic"] = _topics.Status,
            ["value_template"] = $"{{{{ value_json.{field} if value_json is defined and value_json.{field} is defined else this.state }}}}",
            ["entity_category"] = "diagnostic",
            ["icon"] = icon,
        };

        Add("sensor", "queue_depth", "Queue depth", Stat("queue_depth", "jobs", icon: "mdi:tray-full"));
        Add("sensor", "decode_tokens_per_second", "Tokens per second", Stat("decode_tokens_per_second", "tokens/s", icon: "mdi:speedometer"));
        Add("sensor", "jobs_done", "Jobs done", Stat("jobs_done", "jobs", "total_increasing", "mdi:check-circle-outline"));
        Add("sensor", "jobs_failed", "Jobs failed", Stat("jobs_failed", "jobs", "total_increasing", "mdi:alert-circle-outline"));
        Add("sensor", "model", "Model", Status("model", "mdi:brain"));
        Add("sensor", "execution_provider", "Execution provider", Status("execution_provider", "mdi:chip"));
        Add("binary_sensor", "busy", "Busy", new JsonObject
        {
            ["state_topic"] = _topics.Stats,
            ["value_template"] = "{{ 'ON' if (value_json.running | int(0)) > 0 else 'OFF' }}",
            ["device_class"] = "running",
        });

        var sources = _sensors.Devices.Select(d => (d.Name, Capture: d.Triggers.Any(t => t.ResolvedKind == "mqtt")))
            .Concat(_mqtt.Rules.Select(r => (r.Name, Capture: false)));
        foreach (var (source, capture) in sources)
        {
            var objectId = ObjectChars().Replace(source, "_");
            Add("sensor", $"{objectId}_answer", $"{source} answer", new JsonObject
            {
                ["state_topic"] = _topics.SourceAnswer(source),
                ["value_template"] = "{{ (value_json.text if value_json.text is defined else ('error: ' ~ value_json.error.code)) | truncate(255, true, '…') }}",
                ["json_attributes_topic"] = _topics.SourceAnswer(source),
                ["icon"] = "mdi:message-text-outline",
            });
            if (capture)
            {
                Add("button", $"{objectId}_capture", $"{source} capture", new JsonObject
                {
                    ["command_topic"] = _topics.SensorCapture(source),
                    ["payload_press"] = "",
                    ["icon"] = "mdi:camera",
                });
            }
        }

        return configs;
    }

    private JsonObject Device() => new()
    {
        ["identifiers"] = new JsonArray($"autoglm_{NodeId}"),
        ["name"] = $"AutoGlm.Edge {_mqtt.ResolvedDeviceId}",
        ["manufacturer"] = "AutoGlm.Edge",
        ["model"] = "edge daemon",
        ["sw_version"] = Version,
    };

    private static string Version => typeof(HomeAssistantDiscovery).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    private async Task PublishConfigsAsync(CancellationToken cancellationToken)
    {
        var configs = Configs();
        foreach (var (topic, config) in configs)
        {
            await Publish(topic, System.Text.Encoding.UTF8.GetBytes(config.ToJsonString()), cancellationToken).ConfigureAwait(false);
        }

        await Task.Delay(RetainedSettle, _time, cancellationToken).ConfigureAwait(false);
        var cleared = 0;
        foreach (var (topic, live) in _seen)
        {
            if (live && !configs.ContainsKey(topic))
            {
                await Publish(topic, [], cancellationToken).ConfigureAwait(false);
                cleared++;
            }
        }

        Log.Published(_logger, configs.Count, Options.DiscoveryPrefix, NodeId, cleared);
    }

    private Task<bool> Publish(string topic, byte[] payload, CancellationToken cancellationToken) =>
        _connection!.TryPublishAsync(
            new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag().Build(),
            cancellationToken);

    [GeneratedRegex("[^A-Za-z0-9_-]")]
    private static partial Regex NodeChars();

    [GeneratedRegex("[^A-Za-z0-9_]")]
    private static partial Regex ObjectChars();

    private static partial class Log
    {
        [LoggerMessage(4901, LogLevel.Information, "Home Assistant discovery: published {Count} entity configs under {Prefix}/…/{NodeId}/…; cleared {Cleared} that this configuration no longer has")]
        public static partial void Published(ILogger logger, int count, string prefix, string nodeId, int cleared);
    }
}
