using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace AutoGlm.Edge.Fleet;

/// <summary>
/// The shape of one settings layer (<c>defaults</c>, a group, a device), as small declarative specs that turn YAML
/// into JSON while collecting every error with its line and column.
/// </summary>
internal static partial class SettingsSchema
{
    /// <summary>Keys every layer may hold; groups add <c>name</c>/<c>selector</c>, devices <c>id</c>/<c>tags</c>.</summary>
    public static IReadOnlyDictionary<string, Spec> Settings { get; } = new Dictionary<string, Spec>
    {
        ["role"] = new EnumSpec("edge", "heavy"),
        ["broker"] = new ObjectSpec(new()
        {
            ["mode"] = new EnumSpec("embedded", "external"),
            ["host"] = new StringSpec(HostProblem),
            ["port"] = new IntSpec(1, 65535),
            ["tls"] = new BoolSpec(),
            ["caCertificate"] = new StringSpec(ServicePathProblem),
            ["username"] = new StringSpec(),
            ["password"] = new SecretSpec(),
            ["topicPrefix"] = new StringSpec(v => v.IndexOfAny(['+', '#']) >= 0 || v.EndsWith('/') ? "must not hold MQTT wildcards (+ #) or end with /" : null),
        }),
        ["model"] = new ObjectSpec(new()
        {
            ["path"] = new StringSpec(ServicePathProblem),
            ["sha256"] = new StringSpec(v => Sha256().IsMatch(v) ? null : "must be 64 hex digits (sha256sum manifest.json)"),
        }),
        ["runtime"] = new ObjectSpec(new()
        {
            ["executionProvider"] = new EnumSpec("cpu", "cuda", "tensorrt"),
            ["deviceId"] = new IntSpec(0, 63),
            ["maxBatchSize"] = new IntSpec(1, 64),
            ["maxQueueLength"] = new IntSpec(0, 100_000),
            ["intraOpThreads"] = new IntSpec(0, 1024),
            ["maxSequenceLength"] = new IntSpec(0, 1 << 20),
            ["devices"] = new ListSpec(new IntSpec(0, 63)),
            ["backend"] = new EnumSpec("onnx", "openai"),
            ["openAi"] = new ObjectSpec(new()
            {
                ["url"] = new StringSpec(HttpUrlProblem),
                ["apiKey"] = new SecretSpec(),
                ["model"] = new StringSpec(),
            }, required: ["url", "model"]),
        }),
        ["http"] = new ObjectSpec(new()
        {
            ["urls"] = new ListSpec(new StringSpec(HttpUrlProblem), singleScalarAllowed: true),
            ["apiKeys"] = new ListSpec(new SecretSpec()),
            ["requestsPerMinute"] = new IntSpec(0, 1_000_000),
        }),
        ["routing"] = new ObjectSpec(new()
        {
            ["policy"] = new EnumSpec("auto", "local", "remote"),
            ["heavyNodes"] = new ListSpec(new ObjectSpec(new()
            {
                ["url"] = new StringSpec(HttpUrlProblem),
                ["apiKey"] = new SecretSpec(),
            }, required: ["url"])),
        }),
        ["sensors"] = new ObjectSpec(new()
        {
            ["cameras"] = new ListSpec(new ObjectSpec(new()
            {
                ["name"] = new StringSpec(NameProblem),
                ["device"] = new StringSpec(v => v.StartsWith("/dev/", StringComparison.Ordinal) ? null : "must be a device node such as /dev/video0"),
                ["intervalSeconds"] = new IntSpec(1, 86_400),
                ["prompt"] = new StringSpec(),
            }, required: ["name", "device"])),
            ["microphones"] = new ListSpec(new ObjectSpec(new()
            {
                ["name"] = new StringSpec(NameProblem),
                ["device"] = new StringSpec(),
                ["seconds"] = new IntSpec(1, 600),
                ["prompt"] = new StringSpec(),
            }, required: ["name", "device"])),
            ["gpio"] = new ListSpec(new ObjectSpec(new()
            {
                ["name"] = new StringSpec(NameProblem),
                ["chip"] = new StringSpec(v => v.StartsWith("/dev/gpiochip", StringComparison.Ordinal) ? null : "must be a GPIO chip such as /dev/gpiochip0"),
                ["line"] = new IntSpec(0, 1023),
                ["edge"] = new EnumSpec("rising", "falling"),
                ["camera"] = new StringSpec(NameProblem),
                ["prompt"] = new StringSpec(),
            }, required: ["name", "chip", "line"])),
        }),
        ["service"] = new ObjectSpec(new()
        {
            ["memoryMax"] = new StringSpec(v => SystemdSize().IsMatch(v) ? null : "must be a systemd size such as 6G, 512M or infinity"),
            ["cpuQuota"] = new StringSpec(v => CpuQuota().IsMatch(v) ? null : "must be a percentage such as 350%"),
            ["jetson"] = new BoolSpec(),
        }),
    };

    /// <summary>Device ids end up in MQTT topics and file names: lower-case letters, digits and dashes.</summary>
    public static string? IdProblem(string id) =>
        DeviceId().IsMatch(id) ? null : $"'{id}' must be 1-63 lower-case letters, digits or dashes, starting with a letter or digit";

    private static string? NameProblem(string value) => DeviceId().IsMatch(value) ? null : "must be lower-case letters, digits or dashes";

    private static string? HostProblem(string value) =>
        Uri.CheckHostName(value) == UriHostNameType.Unknown ? "must be a host name or IP address" : null;

    private static string? ServicePathProblem(string value)
    {
        if (!value.StartsWith('/'))
        {
            return "must be an absolute path";
        }

        return SecretReference.HiddenFromService(value) is { } hidden ? $"is under {hidden}, which the service cannot read (ProtectHome=yes, PrivateTmp=yes)" : null;
    }

    private static string? HttpUrlProblem(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0
            ? null
            : "must be an http:// or https:// URL";

    [GeneratedRegex("^[0-9a-fA-F]{64}$")]
    private static partial Regex Sha256();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,62}$")]
    private static partial Regex DeviceId();

    [GeneratedRegex("^([0-9]+[KMGT]?|[0-9]{1,3}%|infinity)$")]
    private static partial Regex SystemdSize();

    [GeneratedRegex("^[0-9]{1,5}%$")]
    private static partial Regex CpuQuota();
}

/// <summary>Reads one YAML value into JSON, adding an error for everything wrong with it.</summary>
internal abstract class Spec
{
    /// <summary>The JSON value, or null when the value is unusable (an error was added).</summary>
    public abstract JsonNode? Read(YamlNode node, string path, List<FleetError> errors);

    protected static SourceMark MarkOf(YamlNode node) => SourceMark.From(node.Start);

    protected static string? Scalar(YamlNode node, string path, string expected, List<FleetError> errors)
    {
        if (node is YamlScalarNode { Value: { } value } scalar && !IsNull(scalar))
        {
            return value;
        }

        errors.Add(MarkOf(node).Error($"{path} must be {expected}{(node is YamlScalarNode ? ", not empty" : $", not a {Describe(node)}")}"));
        return null;
    }

    /// <summary>YAML's null: an empty plain value, <c>~</c> or <c>null</c> (quoted, they are strings).</summary>
    private static bool IsNull(YamlScalarNode scalar) =>
        scalar.Style is YamlDotNet.Core.ScalarStyle.Plain or YamlDotNet.Core.ScalarStyle.Any && scalar.Value is "" or "~" or "null";

    protected static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "mapping",
        YamlSequenceNode => "list",
        _ => "value",
    };
}

internal sealed class StringSpec(Func<string, string?>? check = null) : Spec
{
    public override JsonNode? Read(YamlNode node, string path, List<FleetError> errors)
    {
        if (Scalar(node, path, "a string", errors) is not { } value)
        {
            return null;
        }

        if (check?.Invoke(value) is { } problem)
        {
            errors.Add(MarkOf(node).Error($"{path} {problem}"));
            return null;
        }

        return JsonValue.Create(value);
    }
}

internal sealed class SecretSpec : Spec
{
    public override JsonNode? Read(YamlNode node, string path, List<FleetError> errors)
    {
        if (Scalar(node, path, "a secret reference", errors) is not { } value)
        {
            return null;
        }

        if (SecretReference.Problem(value) is { } problem)
        {
            // The message never repeats an inline value: it may be the secret itself.
            errors.Add(MarkOf(node).Error($"{path}: {problem}"));
            return null;
        }

        return JsonValue.Create(value);
    }
}

internal sealed class IntSpec(int min, int max) : Spec
{
    public override JsonNode? Read(YamlNode node, string path, List<FleetError> errors)
    {
        if (Scalar(node, path, "a whole number", errors) is not { } text)
        {
            return null;
        }

        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            errors.Add(MarkOf(node).Error($"{path} must be a whole number (got '{text}')"));
            return null;
        }

        if (value < min || value > max)
        {
            errors.Add(MarkOf(node).Error($"{path} must be between {min} and {max} (got {value})"));
            return null;
        }

        return JsonValue.Create(value);
    }
}

internal sealed class BoolSpec : Spec
{
    public override JsonNode? Read(YamlNode node, string path, List<FleetError> errors) =>
        Scalar(node, path, "true or false", errors) switch
        {
            null => null,
            "true" or "True" or "yes" => JsonValue.Create(true),
            "false" or "False" or "no" => JsonValue.Create(false),
            var other => Fail(node, $"{path} must be true or false (got '{other}')", errors),
        };

    private static JsonNode? Fail(YamlNode node, string message, List<FleetError> errors)
    {
        errors.Add(MarkOf(node).Error(message));
        return null;
    }
}

internal sealed class EnumSpec(params string[] values) : Spec
{
    public override JsonNode? Read(YamlNode node, string path, List<FleetError> errors)
    {
        if (Scalar(node, path, "one of " + string.Join(", ", values), errors) is not { } value)
        {
            return null;
        }

        if (!values.Contains(value, StringComparer.Ordinal))
        {
            errors.Add(MarkOf(node).Error($"{path} must be one of {string.Join(", ", values)} (got '{value}')"));
            return null;
        }

        return JsonValue.Create(value);
    }
}

internal sealed class ListSpec(Spec item, bool singleScalarAllowed = false) : Spec
{
    public override JsonNode? Read(YamlNode node, string path, List<FleetError> errors)
    {
        if (singleScalarAllowed && node is YamlScalarNode)
        {
            return item.Read(node, path, errors) is { } one ? new JsonArray(one) : null;
        }

        if (node is not YamlSequenceNode sequence)
        {
            errors.Add(MarkOf(node).Error($"{path} must be a list, not a {Describe(node)}"));
            return null;
        }

        var array = new JsonArray();
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            if (item.Read(sequence.Children[i], $"{path}[{i}]", errors) is { } value)
            {
                array.Add(value);
            }
        }

        return array;
    }
}

internal sealed class ObjectSpec(Dictionary<string, Spec> fields, string[]? required = null) : Spec
{
    public IReadOnlyDictionary<string, Spec> Fields => fields;

    public override JsonNode? Read(YamlNode node, string path, List<FleetError> errors)
    {
        if (node is not YamlMappingNode mapping)
        {
            errors.Add(MarkOf(node).Error($"{path} must be a mapping, not a {Describe(node)}"));
            return null;
        }

        var result = new JsonObject();
        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
            {
                errors.Add(MarkOf(keyNode).Error($"{path} has a key that is not a plain name"));
                continue;
            }

            if (!fields.TryGetValue(key, out var spec))
            {
                errors.Add(MarkOf(keyNode).Error($"unknown key '{key}' in {path} (expected one of: {string.Join(", ", fields.Keys)})"));
                continue;
            }

            if (spec.Read(valueNode, $"{path}.{key}", errors) is { } value)
            {
                result[key] = value;
            }
        }

        foreach (var name in required ?? [])
        {
            if (!mapping.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value == name))
            {
                errors.Add(MarkOf(node).Error($"{path} is missing '{name}'"));
            }
        }

        return result;
    }
}
