using System.Text;
using System.Text.Json.Nodes;

namespace AutoGlm.Edge.Fleet;

/// <summary><c>fleet plan</c>: one line per device saying which layers it gets and what they amount to.</summary>
public static class FleetPlan
{
    /// <summary>The plan as an aligned text table.</summary>
    public static string Render(FleetManifest manifest)
    {
        string[] header = ["device", "role", "layers", "broker", "model", "provider", "http", "heavy nodes", "sensors"];
        var rows = new List<string[]> { header };
        foreach (var device in manifest.Devices)
        {
            var r = FleetResolver.Resolve(manifest, device);
            var broker = r.Text("broker.mode", "embedded") == "external" || r["broker.host"] is not null
                ? $"{r.Text("broker.host", "127.0.0.1")}:{r["broker.port"]?.ToString() ?? "1883"}{(r["broker.tls"] is JsonValue tls && tls.GetValue<bool>() ? " tls" : "")}"
                : "embedded";
            var sensors = new[] { "cameras", "microphones", "gpio" }
                .Select(k => (k, n: (r[$"sensors.{k}"] as JsonArray)?.Count ?? 0)).Where(x => x.n > 0).Select(x => $"{x.n} {x.k}");
            rows.Add(
            [
                device.Id,
                r.Text("role", "edge"),
                string.Join(" > ", ["defaults", .. r.Groups, "device"]),
                broker,
                r.Text("model.path", "built-in") + (r["model.sha256"] is { } sha ? $" ({sha.GetValue<string>()[..12]}…)" : ""),
                r.Text("runtime.executionProvider", "cpu"),
                string.Join(' ', (r["http.urls"] as JsonArray ?? []).Select(u => u!.GetValue<string>())) is { Length: > 0 } urls ? urls : "http://127.0.0.1:8000",
                $"{r.Text("routing.policy", "auto")}: {HeavyNodes(r)}",
                string.Join(", ", sensors) is { Length: > 0 } s ? s : "none",
            ]);
        }

        var widths = Enumerable.Range(0, header.Length).Select(i => rows.Max(row => row[i].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in rows)
        {
            text.AppendLine(string.Join("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))).TrimEnd());
        }

        return text.ToString();
    }

    private static string HeavyNodes(ResolvedDevice device) =>
        string.Join(' ', (device["routing.heavyNodes"] as JsonArray ?? []).Select(n => n!["url"]!.GetValue<string>())) is { Length: > 0 } nodes ? nodes : "none";
}
