using System.Text.Json.Nodes;

namespace AutoGlm.Edge.Fleet;

/// <summary>
/// A parsed <c>fleet.yaml</c>: settings layered defaults → matching groups (in file order) → the device's own,
/// each later layer overriding the earlier ones key by key (mappings merge, values and lists replace).
/// </summary>
/// <param name="Version">The format version; 1 is the only one.</param>
/// <param name="Defaults">Settings every device starts from.</param>
/// <param name="Groups">Layers applied to the devices their selector picks.</param>
/// <param name="Devices">Every device, with its own settings.</param>
public sealed record FleetManifest(int Version, JsonObject Defaults, IReadOnlyList<FleetGroup> Groups, IReadOnlyList<FleetDevice> Devices)
{
    /// <summary>The device with <paramref name="id"/>, or null.</summary>
    public FleetDevice? Device(string id) => Devices.FirstOrDefault(d => d.Id == id);
}

/// <summary>A settings layer for the devices that carry every one of <see cref="Tags"/> and whose id matches one of <see cref="IdPatterns"/>.</summary>
/// <param name="Name">Unique within the manifest.</param>
/// <param name="Tags">All must be on the device; empty means no tag condition.</param>
/// <param name="IdPatterns">Globs (<c>jetson-*</c>); the id must match one; empty means no id condition.</param>
/// <param name="Settings">The layer.</param>
/// <param name="Mark">Where the group starts in the file.</param>
public sealed record FleetGroup(string Name, IReadOnlyList<string> Tags, IReadOnlyList<string> IdPatterns, JsonObject Settings, SourceMark Mark)
{
    /// <summary>Whether this group's selector picks <paramref name="device"/>.</summary>
    public bool Selects(FleetDevice device) =>
        Tags.All(device.Tags.Contains) && (IdPatterns.Count == 0 || IdPatterns.Any(p => GlobPattern.IsMatch(p, device.Id)));
}

/// <summary>One device: its id (the MQTT device id), its tags, and its own settings (the last layer).</summary>
public sealed record FleetDevice(string Id, IReadOnlyList<string> Tags, JsonObject Settings, SourceMark Mark);

/// <summary>A device's settings after every layer is applied.</summary>
/// <param name="Device">The device.</param>
/// <param name="Groups">The names of the groups applied, in order.</param>
/// <param name="Settings">The merged settings (the manifest's key names).</param>
public sealed record ResolvedDevice(FleetDevice Device, IReadOnlyList<string> Groups, JsonObject Settings)
{
    /// <summary>A merged value by dotted path (<c>broker.host</c>), or null.</summary>
    public JsonNode? this[string path] => path.Split('.').Aggregate<string, JsonNode?>(Settings, (node, key) => node is JsonObject o ? o[key] : null);

    /// <summary>A merged string by dotted path, or <paramref name="fallback"/>.</summary>
    public string Text(string path, string fallback) => this[path] is JsonValue v && v.TryGetValue<string>(out var s) ? s : fallback;
}
