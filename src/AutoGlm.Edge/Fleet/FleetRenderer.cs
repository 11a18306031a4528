using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AutoGlm.Edge.Fleet;

/// <summary>
/// Turns a resolved device into the daemon's configuration (<c>/etc/autoglm/edge.json</c>, sections <c>Runtime</c>,
/// <c>Mqtt</c>, <c>Http</c>, <c>Cluster</c>, <c>Sensors</c>) and a systemd drop-in for the unit's knobs.
/// </summary>
/// <remarks>Secrets stay references (<c>file:</c>, <c>env:</c>): the daemon resolves them at start. Output is deterministic.</remarks>
public static class FleetRenderer
{
    /// <summary>The drop-in's file name inside <c>autoglm-edge.service.d/</c>.</summary>
    public const string DropInFileName = "50-fleet.conf";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The device's <c>edge.json</c>.</summary>
    public static string EdgeJson(ResolvedDevice device)
    {
        var s = device.Settings;
        var root = new JsonObject();
        var runtime = Section(root, "Runtime");
        Copy(s["model"], runtime, ("path", "ModelPath"), ("sha256", "ModelManifestSha256"));
        CopyAll(s["runtime"], runtime);

        var mqtt = Section(root, "Mqtt");
        Copy(s["broker"], mqtt, ("mode", "Broker"), ("host", "Host"), ("port", "Port"), ("tls", "UseTls"), ("caCertificate", "CaCertificatePath"),
            ("username", "Username"), ("password", "Password"), ("topicPrefix", "TopicPrefix"));
        mqtt["DeviceId"] = device.Device.Id;

        var http = Section(root, "Http");
        if (s["http"] is JsonObject h)
        {
            if (h["urls"] is JsonArray urls)
            {
                http["Urls"] = string.Join(';', urls.Select(u => u!.GetValue<string>()));
            }

            Copy(h, http, ("apiKeys", "ApiKeys"), ("requestsPerMinute", "RequestsPerMinute"));
        }

        var cluster = Section(root, "Cluster");
        cluster["Role"] = device.Text("role", "edge");
        if (s["routing"] is JsonObject routing)
        {
            // The manifest's auto/local/remote are the daemon's named policies (docs/cluster.md).
            if (routing["policy"]?.GetValue<string>() is { } policy)
            {
                cluster["Policy"] = policy switch
                {
                    "local" => "local-only",
                    "remote" => "remote-first",
                    _ => "cost-threshold",
                };
            }

            if (routing["heavyNodes"] is JsonArray nodes)
            {
                cluster["Nodes"] = new JsonArray([.. nodes.Select(n => Pascal(n!))]);
            }
        }

        if (s["sensors"] is JsonObject sensors)
        {
            root["Sensors"] = SensorsSection(sensors);
        }

        foreach (var empty in root.Where(p => p.Value is JsonObject { Count: 0 }).Select(p => p.Key).ToList())
        {
            root.Remove(empty);
        }

        return root.ToJsonString(Indented) + "\n";
    }

    /// <summary>The device's systemd drop-in: resource limits and the Jetson device nodes.</summary>
    public static string DropIn(ResolvedDevice device, string manifestName)
    {
        var text = new StringBuilder();
        text.Append("# Written by `autoglm-edge fleet render ").Append(manifestName).Append(" --device ").Append(device.Device.Id).AppendLine("`; re-render rather than edit.");
        text.Append("# Layers: defaults").Append(string.Concat(device.Groups.Select(g => ", " + g))).AppendLine(", device.");
        text.AppendLine("[Service]");
        if (device["service.memoryMax"] is { } memory)
        {
            text.Append("MemoryMax=").AppendLine(memory.GetValue<string>());
        }

        if (device["service.cpuQuota"] is { } quota)
        {
            text.Append("CPUQuota=").AppendLine(quota.GetValue<string>());
        }

        if (device["service.jetson"] is JsonValue jetson && jetson.GetValue<bool>())
        {
            text.AppendLine("# Jetson: the Tegra GPU nodes (same as deploy/jetson/autoglm-edge.service.d/jetson.conf).");
            text.AppendLine("SupplementaryGroups=render");
            foreach (var allow in new[] { "/dev/nvmap", "/dev/nvhost-ctrl", "char-nvhost*", "char-nvgpu*", "char-host1x*" })
            {
                text.Append("DeviceAllow=").Append(allow).AppendLine(" rw");
            }
        }

        return text.ToString();
    }

    /// <summary>Writes <c>edge.json</c> and <c>autoglm-edge.service.d/50-fleet.conf</c> under <paramref name="directory"/>; returns their paths.</summary>
    public static IReadOnlyList<string> Write(ResolvedDevice device, string manifestName, string directory)
    {
        var json = Path.Combine(directory, "edge.json");
        var dropInDirectory = Path.Combine(directory, "autoglm-edge.service.d");
        var dropIn = Path.Combine(dropInDirectory, DropInFileName);
        Directory.CreateDirectory(dropInDirectory);
        File.WriteAllText(json, EdgeJson(device));
        File.WriteAllText(dropIn, DropIn(device, manifestName));
        return [json, dropIn];
    }

    /// <summary>
    /// The manifest's cameras, microphones and GPIO lines as the daemon's <c>Sensors:Devices</c> (docs/sensors.md): a
    /// camera's <c>intervalSeconds</c> becomes an interval trigger; a GPIO line becomes a trigger of the camera it names
    /// (or of every camera when it names none), a rising edge a motion sensor and a falling edge a button; every sensor
    /// also captures on its MQTT command topic, so a microphone with nothing else can still be asked for a clip.
    /// </summary>
    private static JsonObject SensorsSection(JsonObject sensors)
    {
        var devices = new JsonArray();
        var gpio = sensors["gpio"] as JsonArray ?? [];
        foreach (var camera in sensors["cameras"] as JsonArray ?? [])
        {
            var name = camera!["name"]!.GetValue<string>();
            var triggers = new JsonArray();
            if (camera["intervalSeconds"]?.GetValue<int>() is { } seconds)
            {
                triggers.Add(new JsonObject { ["Kind"] = "interval", ["Every"] = TimeSpan.FromSeconds(seconds).ToString("c", System.Globalization.CultureInfo.InvariantCulture) });
            }

            foreach (var line in gpio.Where(g => g?["camera"]?.GetValue<string>() is not { } target || target == name))
            {
                var falling = line!["edge"]?.GetValue<string>() == "falling";
                triggers.Add(new JsonObject
                {
                    ["Kind"] = falling ? "button" : "motion",
                    ["Name"] = line["name"]!.GetValue<string>(),
                    ["Pin"] = line["line"]!.GetValue<int>(),
                });
            }

            triggers.Add(new JsonObject { ["Kind"] = "mqtt" });
            devices.Add(Sensor(camera, "camera", triggers));
        }

        foreach (var microphone in sensors["microphones"] as JsonArray ?? [])
        {
            var device = Sensor(microphone!, "microphone", [new JsonObject { ["Kind"] = "mqtt" }]);
            if (microphone!["seconds"] is { } seconds)
            {
                device["ClipSeconds"] = seconds.DeepClone();
            }

            devices.Add(device);
        }

        var section = new JsonObject { ["Devices"] = devices };
        if (gpio.FirstOrDefault()?["chip"]?.GetValue<string>() is { } chip && int.TryParse(chip["/dev/gpiochip".Length..], out var number))
        {
            section["GpioChip"] = number;
        }

        return section;
    }

    private static JsonObject Sensor(JsonNode source, string kind, JsonArray triggers)
    {
        var sensor = new JsonObject { ["Name"] = source["name"]!.DeepClone(), ["Kind"] = kind, ["Device"] = source["device"]!.DeepClone() };
        if (source["prompt"] is { } prompt)
        {
            sensor["Prompt"] = prompt.DeepClone();
        }

        sensor["Triggers"] = triggers;
        return sensor;
    }

    private static JsonObject Section(JsonObject root, string name)
    {
        var section = new JsonObject();
        root[name] = section;
        return section;
    }

    private static void Copy(JsonNode? from, JsonObject to, params (string From, string To)[] keys)
    {
        if (from is not JsonObject source)
        {
            return;
        }

        foreach (var (key, target) in keys)
        {
            if (source[key] is { } value)
            {
                to[target] = value.DeepClone();
            }
        }
    }

    private static void CopyAll(JsonNode? from, JsonObject to)
    {
        if (from is JsonObject source)
        {
            foreach (var (key, value) in source)
            {
                to[PascalName(key)] = value is null ? null : Pascal(value);
            }
        }
    }

    private static JsonNode Pascal(JsonNode node) => node switch
    {
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(PascalName(p.Key), p.Value is null ? null : Pascal(p.Value)))),
        JsonArray a => new JsonArray([.. a.Select(x => x is null ? null : Pascal(x))]),
        _ => node.DeepClone(),
    };

    private static string PascalName(string key) => char.ToUpperInvariant(key[0]) + key[1..];
}
