using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Corpus;

/// <summary>A bad HTTP chat completion body and the status and error code it must be answered with.</summary>
public sealed record BadHttpBody(string Name, byte[] Body, int Status, string Code);

/// <summary>A bad MQTT job message (topic relative to the device prefix) and the error code its result must carry.</summary>
public sealed record BadMqttMessage(string Name, string Topic, byte[] Payload, string Code, (string Name, string Value)[] UserProperties);

/// <summary>A bad image or audio file, and how each front door must answer it.</summary>
public sealed record BadMedia(string Name, string Kind, byte[] Bytes, int HttpStatus, string HttpCode, string MqttCode);

/// <summary>A bad configuration value and the start of the one line the start-up fails with.</summary>
public sealed record BadSetting(string Key, string Value, string Error);

/// <summary>
/// The bad-input corpus, read from the data files in <c>Corpus/data</c> (one JSON object per line). Payload text may hold
/// <c>${id}</c> (a fresh job id), <c>${b64:PATH}</c> (a corpus file as base64), <c>${zeros-b64:N}</c> (N zero bytes as
/// base64) and <c>${repeat:N:TEXT}</c>; binary payloads are given as <c>payload_hex</c> or <c>payload_file</c>.
/// </summary>
/// <remarks>
/// The MQTT cases assume the limits <see cref="MqttLimits"/> sets and a 2048-token context (the tiny model), with no
/// heavy node configured.
/// </remarks>
public static partial class BadInput
{
    /// <summary>The MQTT limits the corpus's size cases are written against.</summary>
    public static readonly IReadOnlyDictionary<string, string> MqttLimits = new Dictionary<string, string>
    {
        ["Mqtt:MaxJobBytes"] = "1048576",
        ["Mqtt:MaxMediaBytes"] = "262144",
        ["Mqtt:MaxPromptChars"] = "65536",
        ["Mqtt:MaxTokensLimit"] = "4096",
    };

    private static int _ids;

    public static string Folder => Path.Combine(TestPaths.RepositoryRoot(), "tests", "AutoGlm.Edge.Tests", "Corpus", "data");

    public static IReadOnlyList<BadHttpBody> Http() =>
        [.. Lines("http.jsonl").Select(e => new BadHttpBody(Name(e), Bytes(e, "body"), e.GetProperty("status").GetInt32(), e.GetProperty("code").GetString()!))];

    public static IReadOnlyList<BadMqttMessage> Mqtt(string prefix) =>
    [
        .. Lines("mqtt.jsonl").Select(e => new BadMqttMessage(
            Name(e),
            prefix + "/" + e.GetProperty("topic").GetString(),
            Bytes(e, "payload"),
            e.GetProperty("code").GetString()!,
            e.TryGetProperty("properties", out var properties) ? [.. properties.EnumerateObject().Select(p => (p.Name, Expand(p.Value.GetString()!)))] : [])),
    ];

    public static IReadOnlyList<BadMedia> Media() =>
    [
        .. Lines("media.jsonl").Select(e => new BadMedia(
            Name(e),
            e.GetProperty("kind").GetString()!,
            File.ReadAllBytes(Path.Combine(Folder, e.GetProperty("file").GetString()!)),
            e.GetProperty("http").GetProperty("status").GetInt32(),
            e.GetProperty("http").GetProperty("code").GetString()!,
            e.GetProperty("mqtt").GetString()!)),
    ];

    public static IReadOnlyList<BadSetting> Configuration() =>
        [.. Lines("configuration.jsonl").Select(e => new BadSetting(e.GetProperty("key").GetString()!, e.GetProperty("value").GetString()!, e.GetProperty("error").GetString()!))];

    /// <summary>A job id no other case or test uses.</summary>
    public static string NewId() => string.Create(CultureInfo.InvariantCulture, $"bad{Interlocked.Increment(ref _ids)}-{Guid.NewGuid():N}")[..20];

    private static IEnumerable<JsonElement> Lines(string file) =>
        File.ReadLines(Path.Combine(Folder, file)).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone());

    private static string Name(JsonElement entry) => entry.GetProperty("name").GetString()!;

    /// <summary>The bytes of <c>NAME</c> (text, expanded), <c>NAME_hex</c> or <c>NAME_file</c>, with <c>pad_zeros</c> zero bytes after.</summary>
    private static byte[] Bytes(JsonElement entry, string name)
    {
        byte[] bytes = entry.TryGetProperty(name, out var text) ? Encoding.UTF8.GetBytes(Expand(text.GetString()!))
            : entry.TryGetProperty(name + "_hex", out var hex) ? Convert.FromHexString(hex.GetString()!)
            : File.ReadAllBytes(Path.Combine(Folder, entry.GetProperty(name + "_file").GetString()!));
        return entry.TryGetProperty("pad_zeros", out var pad) ? [.. bytes, .. new byte[pad.GetInt32()]] : bytes;
    }

    private static string Expand(string text) => Placeholder().Replace(text, m => m.Groups["kind"].Value switch
    {
        "id" => NewId(),
        "b64" => Convert.ToBase64String(File.ReadAllBytes(Path.Combine(Folder, m.Groups["arg"].Value))),
        "zeros-b64" => Convert.ToBase64String(new byte[int.Parse(m.Groups["arg"].Value, CultureInfo.InvariantCulture)]),
        "repeat" => string.Concat(Enumerable.Repeat(m.Groups["text"].Value, int.Parse(m.Groups["arg"].Value, CultureInfo.InvariantCulture))),
        var other => throw new InvalidDataException($"unknown corpus placeholder '{other}' in {text[..Math.Min(80, text.Length)]}"),
    });

    [GeneratedRegex(@"\$\{(?<kind>[a-z0-9-]+)(?::(?<arg>[^:}]*))?(?::(?<text>[^}]*))?\}")]
    private static partial Regex Placeholder();
}
