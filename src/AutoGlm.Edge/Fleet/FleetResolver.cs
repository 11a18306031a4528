using System.Net;
using System.Text.Json.Nodes;

namespace AutoGlm.Edge.Fleet;

/// <summary>Applies the layers to a device and checks what only the merged result can show.</summary>
/// <remarks>Stateless and thread-safe.</remarks>
public static class FleetResolver
{
    /// <summary>Defaults, then every group that selects the device (file order), then the device itself.</summary>
    public static ResolvedDevice Resolve(FleetManifest manifest, FleetDevice device)
    {
        var settings = new JsonObject();
        Merge(settings, manifest.Defaults);
        var applied = new List<string>();
        foreach (var group in manifest.Groups.Where(g => g.Selects(device)))
        {
            Merge(settings, group.Settings);
            applied.Add(group.Name);
        }

        Merge(settings, device.Settings);
        return new ResolvedDevice(device, applied, settings);
    }

    /// <summary>Layers <paramref name="overlay"/> onto <paramref name="target"/>: mappings merge, everything else replaces.</summary>
    public static void Merge(JsonObject target, JsonObject overlay)
    {
        foreach (var (key, value) in overlay)
        {
            if (value is JsonObject child && target[key] is JsonObject existing)
            {
                Merge(existing, child);
            }
            else
            {
                target[key] = value?.DeepClone();
            }
        }
    }

    /// <summary>Every problem of the merged settings, reported at the device.</summary>
    public static IEnumerable<FleetError> Check(ResolvedDevice resolved)
    {
        var at = resolved.Device.Mark;
        var id = resolved.Device.Id;
        var role = resolved.Text("role", "edge");
        var policy = resolved.Text("routing.policy", "auto");
        var heavyNodes = resolved["routing.heavyNodes"] as JsonArray;
        if (policy == "remote" && heavyNodes is not { Count: > 0 })
        {
            yield return at.Error($"device '{id}': routing.policy is remote but routing.heavyNodes is empty");
        }

        if (role == "heavy" && policy == "remote")
        {
            yield return at.Error($"device '{id}': a heavy node serves requests itself; routing.policy remote is for edge devices");
        }

        if (resolved.Text("broker.mode", "embedded") == "external" && resolved["broker.host"] is null)
        {
            yield return at.Error($"device '{id}': broker.mode is external but broker.host is not set");
        }

        if (resolved.Text("broker.mode", "embedded") == "embedded" && resolved["broker.host"] is not null
            && Mqtt.BrokerAddresses.Parse(resolved.Text("broker.host", ""), out _) is { IsLoopbackOnly: false } open
            && (resolved["broker.username"] is null || resolved["broker.password"] is null))
        {
            yield return at.Error($"device '{id}': the embedded broker listens on {string.Join(", ", open.NotLoopback)}, which is not loopback, so broker.username and broker.password must be set");
        }

        if (resolved["model.sha256"] is not null && resolved["model.path"] is null)
        {
            yield return at.Error($"device '{id}': model.sha256 is set but model.path is not (the built-in model has no fixed hash)");
        }

        var keys = resolved["http.apiKeys"] as JsonArray;
        foreach (var url in (resolved["http.urls"] as JsonArray ?? []).Select(u => u!.GetValue<string>()))
        {
            if (!IsLoopback(url) && keys is not { Count: > 0 })
            {
                yield return at.Error($"device '{id}': http.urls binds {url}, which is not loopback, so http.apiKeys must name at least one key");
            }
        }

        var cameras = (resolved["sensors.cameras"] as JsonArray ?? []).Select(c => c?["name"]?.GetValue<string>()).ToList();
        foreach (var trigger in resolved["sensors.gpio"] as JsonArray ?? [])
        {
            if (trigger?["camera"]?.GetValue<string>() is { } camera && !cameras.Contains(camera))
            {
                yield return at.Error($"device '{id}': sensors.gpio '{trigger["name"]}' names camera '{camera}', which is not in sensors.cameras");
            }
        }

        var chips = (resolved["sensors.gpio"] as JsonArray ?? []).Select(g => g?["chip"]?.GetValue<string>()).Distinct().ToList();
        if (chips.Count > 1)
        {
            yield return at.Error($"device '{id}': sensors.gpio uses {string.Join(" and ", chips)}; the daemon reads one GPIO chip (Sensors:GpioChip)");
        }

        if ((resolved["sensors.gpio"] as JsonArray ?? []).Count > 0 && cameras.Count == 0)
        {
            yield return at.Error($"device '{id}': sensors.gpio lines trigger cameras, but sensors.cameras is empty");
        }

        foreach (var list in new[] { "cameras", "microphones", "gpio" })
        {
            var duplicate = (resolved[$"sensors.{list}"] as JsonArray ?? []).Select(x => x?["name"]?.GetValue<string>()).GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
            {
                yield return at.Error($"device '{id}': sensors.{list} name '{duplicate.Key}' is used twice");
            }
        }
    }

    private static bool IsLoopback(string url)
    {
        if (!Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri))
        {
            return false;
        }

        return uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
    }
}
