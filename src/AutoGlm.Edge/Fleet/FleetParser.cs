using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace AutoGlm.Edge.Fleet;

/// <summary>Reads <c>fleet.yaml</c> text into a <see cref="FleetManifest"/>, collecting every error with its position.</summary>
/// <remarks>Stateless and thread-safe.</remarks>
public static class FleetParser
{
    private static readonly string[] TopLevelKeys = ["version", "defaults", "groups", "devices"];

    /// <summary>Parses <paramref name="yaml"/>; the manifest is null only when the text is not a YAML mapping at all.</summary>
    public static (FleetManifest? Manifest, IReadOnlyList<FleetError> Errors) Parse(string yaml)
    {
        var errors = new List<FleetError>();
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            var message = ex.InnerException is { } inner && ex.Message.Contains("Duplicate key", StringComparison.OrdinalIgnoreCase) ? inner.Message : ex.Message;
            errors.Add(SourceMark.From(ex.Start).Error($"YAML: {Trim(message)}"));
            return (null, errors);
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            var at = stream.Documents.Count == 0 ? new SourceMark(1, 1) : SourceMark.From(stream.Documents[0].RootNode.Start);
            errors.Add(at.Error("a fleet manifest must be a mapping with version, defaults, groups and devices"));
            return (null, errors);
        }

        if (stream.Documents.Count > 1)
        {
            errors.Add(SourceMark.From(stream.Documents[1].RootNode.Start).Error("a fleet manifest is one YAML document; found more"));
        }

        var fields = Fields(root, "fleet", TopLevelKeys, errors);
        var version = ReadVersion(root, fields, errors);
        var defaults = fields.TryGetValue("defaults", out var d) ? Layer(d, "defaults", [], errors) : [];
        var groups = fields.TryGetValue("groups", out var g) ? Groups(g, errors) : [];
        IReadOnlyList<FleetDevice> devices = fields.TryGetValue("devices", out var dv) ? Devices(dv, errors) : [];
        if (!fields.TryGetValue("devices", out var list))
        {
            errors.Add(SourceMark.From(root.Start).Error("devices is missing (list at least one device)"));
        }
        else if (list is YamlSequenceNode { Children.Count: 0 })
        {
            errors.Add(SourceMark.From(list.Start).Error("devices must list at least one device"));
        }

        return (new FleetManifest(version, defaults, groups, devices), errors);
    }

    private static string Trim(string message) => message.StartsWith('(') && message.IndexOf("): ", StringComparison.Ordinal) is var i and > 0 ? message[(i + 3)..] : message;

    private static int ReadVersion(YamlMappingNode root, Dictionary<string, YamlNode> fields, List<FleetError> errors)
    {
        if (!fields.TryGetValue("version", out var node))
        {
            errors.Add(SourceMark.From(root.Start).Error("version is missing (version: 1)"));
            return 0;
        }

        if (node is not YamlScalarNode { Value: "1" })
        {
            errors.Add(SourceMark.From(node.Start).Error($"version must be 1 (got '{(node as YamlScalarNode)?.Value}')"));
            return 0;
        }

        return 1;
    }

    /// <summary>The mapping's children by key, reporting keys outside <paramref name="allowed"/>.</summary>
    private static Dictionary<string, YamlNode> Fields(YamlMappingNode mapping, string path, IReadOnlyCollection<string> allowed, List<FleetError> errors)
    {
        var result = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in mapping.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            if (allowed.Contains(key))
            {
                result[key] = value;
            }
            else
            {
                errors.Add(SourceMark.From(keyNode.Start).Error($"unknown key '{key}' in {path} (expected one of: {string.Join(", ", allowed)})"));
            }
        }

        return result;
    }

    /// <summary>A settings layer: the common settings plus <paramref name="ownKeys"/>, which the caller reads itself.</summary>
    private static JsonObject Layer(YamlNode node, string path, string[] ownKeys, List<FleetError> errors)
    {
        var layer = new JsonObject();
        if (node is not YamlMappingNode mapping)
        {
            errors.Add(SourceMark.From(node.Start).Error($"{path} must be a mapping"));
            return layer;
        }

        foreach (var (keyNode, value) in mapping.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            if (ownKeys.Contains(key))
            {
                continue;
            }

            if (!SettingsSchema.Settings.TryGetValue(key, out var spec))
            {
                var expected = ownKeys.Concat(SettingsSchema.Settings.Keys);
                errors.Add(SourceMark.From(keyNode.Start).Error($"unknown key '{key}' in {path} (expected one of: {string.Join(", ", expected)})"));
                continue;
            }

            if (spec.Read(value, $"{path}.{key}", errors) is { } read)
            {
                layer[key] = read;
            }
        }

        return layer;
    }

    private static List<FleetGroup> Groups(YamlNode node, List<FleetError> errors)
    {
        var groups = new List<FleetGroup>();
        if (node is not YamlSequenceNode sequence)
        {
            errors.Add(SourceMark.From(node.Start).Error("groups must be a list"));
            return groups;
        }

        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var item = sequence.Children[i];
            var mark = SourceMark.From(item.Start);
            if (item is not YamlMappingNode mapping)
            {
                errors.Add(mark.Error($"groups[{i}] must be a mapping with name, selector and settings"));
                continue;
            }

            var name = ScalarChild(mapping, "name");
            var path = name is null ? $"groups[{i}]" : $"groups[{name}]";
            if (name is null)
            {
                errors.Add(mark.Error($"groups[{i}] is missing 'name'"));
            }
            else if (groups.Any(x => x.Name == name))
            {
                errors.Add(mark.Error($"group name '{name}' is used twice"));
            }

            var (tags, ids) = Selector(mapping, path, mark, errors);
            var settings = Layer(mapping, path, ["name", "selector"], errors);
            groups.Add(new FleetGroup(name ?? $"#{i}", tags, ids, settings, mark));
        }

        return groups;
    }

    private static (List<string> Tags, List<string> Ids) Selector(YamlMappingNode group, string path, SourceMark mark, List<FleetError> errors)
    {
        List<string> tags = [], ids = [];
        if (!group.Children.TryGetValue(new YamlScalarNode("selector"), out var node))
        {
            errors.Add(mark.Error($"{path} is missing 'selector' (tags and/or ids)"));
            return (tags, ids);
        }

        if (node is not YamlMappingNode selector)
        {
            errors.Add(SourceMark.From(node.Start).Error($"{path}.selector must be a mapping with tags and/or ids"));
            return (tags, ids);
        }

        var fields = Fields(selector, $"{path}.selector", ["tags", "ids"], errors);
        if (fields.TryGetValue("tags", out var t))
        {
            tags = Strings(t, $"{path}.selector.tags", errors);
        }

        if (fields.TryGetValue("ids", out var p))
        {
            ids = Strings(p, $"{path}.selector.ids", errors);
        }

        if (tags.Count == 0 && ids.Count == 0)
        {
            errors.Add(SourceMark.From(selector.Start).Error($"{path}.selector must name tags or ids; an empty selector would pick every device (use defaults for that)"));
        }

        return (tags, ids);
    }

    private static List<FleetDevice> Devices(YamlNode node, List<FleetError> errors)
    {
        var devices = new List<FleetDevice>();
        if (node is not YamlSequenceNode sequence)
        {
            errors.Add(SourceMark.From(node.Start).Error("devices must be a list"));
            return devices;
        }

        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var item = sequence.Children[i];
            var mark = SourceMark.From(item.Start);
            if (item is not YamlMappingNode mapping)
            {
                errors.Add(mark.Error($"devices[{i}] must be a mapping with at least an id"));
                continue;
            }

            var id = ScalarChild(mapping, "id");
            if (id is null)
            {
                errors.Add(mark.Error($"devices[{i}] is missing 'id'"));
            }
            else if (SettingsSchema.IdProblem(id) is { } problem)
            {
                errors.Add(mark.Error($"devices[{i}].id {problem}"));
            }
            else if (devices.Any(x => x.Id == id))
            {
                errors.Add(mark.Error($"device id '{id}' is used twice"));
            }

            var path = id is null ? $"devices[{i}]" : $"devices[{id}]";
            var tags = mapping.Children.TryGetValue(new YamlScalarNode("tags"), out var t) ? Strings(t, $"{path}.tags", errors) : [];
            var settings = Layer(mapping, path, ["id", "tags"], errors);
            if (id is not null)
            {
                // A device without an id is reported above and left out, so its merged settings raise no second error.
                devices.Add(new FleetDevice(id, tags, settings, mark));
            }
        }

        return devices;
    }

    private static string? ScalarChild(YamlMappingNode mapping, string key) =>
        mapping.Children.TryGetValue(new YamlScalarNode(key), out var node) && node is YamlScalarNode { Value: { Length: > 0 } value } ? value : null;

    private static List<string> Strings(YamlNode node, string path, List<FleetError> errors)
    {
        if (node is not YamlSequenceNode sequence)
        {
            errors.Add(SourceMark.From(node.Start).Error($"{path} must be a list, not a {(node is YamlMappingNode ? "mapping" : "value")}"));
            return [];
        }

        var result = new List<string>();
        foreach (var child in sequence.Children)
        {
            if (child is YamlScalarNode { Value: { Length: > 0 } value })
            {
                result.Add(value);
            }
            else
            {
                errors.Add(SourceMark.From(child.Start).Error($"{path} must hold plain names"));
            }
        }

        return result;
    }
}
