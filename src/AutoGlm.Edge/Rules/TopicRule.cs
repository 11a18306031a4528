using System.Globalization;
using System.Text;
using System.Text.Json;
using MQTTnet;

namespace AutoGlm.Edge.Rules;

/// <summary>One configured rule at run time: which messages it takes, the prompt it makes of them, and its limits.</summary>
/// <remarks>Thread-safe.</remarks>
public sealed class TopicRule
{
    private readonly Template _prompt;
    private readonly Lock _gate = new();
    private DateTimeOffset? _lastJob;
    private int _outstanding;
    private long _jobs;
    private long _dropped;
    private long _unusable;

    public TopicRule(TopicRuleOptions options)
    {
        Options = options;
        _prompt = Template.Parse(options.ResolvedPrompt);
    }

    public TopicRuleOptions Options { get; }

    public string Name => Options.Name;

    /// <summary>Jobs published.</summary>
    public long Jobs => Interlocked.Read(ref _jobs);

    /// <summary>Messages dropped by <c>MinInterval</c> or <c>MaxOutstanding</c>.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Messages the rule could not use (not JSON, not an image, a field the prompt names missing).</summary>
    public long Unusable => Interlocked.Read(ref _unusable);

    /// <summary>Whether <paramref name="topic"/> is one this rule subscribes to.</summary>
    public bool Takes(string topic) => MqttTopicFilterComparer.Compare(topic, Options.Topic) == MqttTopicFilterCompareResult.IsMatch;

    /// <summary>
    /// Reads one message: null when it does not pass <c>Match</c> (not counted: that is what the filter is for); else
    /// the prompt, or an <see cref="UnusableMessageException"/> saying why the message cannot be used.
    /// </summary>
    public string? Prompt(string topic, ReadOnlySpan<byte> payload, DateTimeOffset now)
    {
        JsonElement? json = null;
        if (Options.ResolvedPayload == "json")
        {
            try
            {
                using var document = JsonDocument.Parse(payload.ToArray());
                json = document.RootElement.Clone();
            }
            catch (JsonException ex)
            {
                throw NotUsable($"is not JSON ({ex.Message})");
            }

            foreach (var (field, expected) in Options.Match)
            {
                if (Field(json.Value, field) is not { } value || Text(value) != expected)
                {
                    return null;
                }
            }
        }

        var text = Options.ResolvedPayload is "image" or "audio" ? "" : Encoding.UTF8.GetString(payload);
        return _prompt.Render(name => name switch
        {
            "payload" => text,
            "topic" => topic,
            "rule" => Name,
            "time" => now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            _ => json is { } root && Field(root, name) is { } value ? Text(value) : throw NotUsable($"has no field '{name}', which the prompt names"),
        });
    }

    /// <summary>Takes a job slot now, or false (counted as dropped) when <c>MinInterval</c> or <c>MaxOutstanding</c> says no.</summary>
    public bool TryStartJob(DateTimeOffset now)
    {
        lock (_gate)
        {
            if (_outstanding >= Options.MaxOutstanding || (_lastJob is { } last && now - last < Options.MinInterval))
            {
                _dropped++;
                return false;
            }

            _outstanding++;
            _lastJob = now;
            _jobs++;
            return true;
        }
    }

    /// <summary>Gives back a job slot (its answer came, it expired, or its publish failed).</summary>
    public void EndJob()
    {
        lock (_gate)
        {
            _outstanding = Math.Max(0, _outstanding - 1);
        }
    }

    /// <summary>Counts a message the rule could not use.</summary>
    public void CountUnusable() => Interlocked.Increment(ref _unusable);

    private UnusableMessageException NotUsable(string why) => new($"a message for rule '{Name}' {why}");

    private static JsonElement? Field(JsonElement root, string path)
    {
        var current = root;
        foreach (var part in path.Split('.'))
        {
            if (current.ValueKind == JsonValueKind.Object && current.TryGetProperty(part, out var child))
            {
                current = child;
            }
            else if (current.ValueKind == JsonValueKind.Array && int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < current.GetArrayLength())
            {
                current = current[index];
            }
            else
            {
                return null;
            }
        }

        return current.ValueKind == JsonValueKind.Null ? null : current;
    }

    private static string Text(JsonElement value) => value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();

    /// <summary>A prompt template: literal text and <c>{name}</c> placeholders; <c>{{</c> and <c>}}</c> are braces.</summary>
    public sealed class Template
    {
        private readonly List<(string Text, bool IsField)> _parts;

        private Template(List<(string, bool)> parts) => _parts = parts;

        /// <exception cref="FormatException">A brace is not closed, or a placeholder is empty.</exception>
        public static Template Parse(string template)
        {
            var parts = new List<(string, bool)>();
            var literal = new StringBuilder();
            for (var i = 0; i < template.Length; i++)
            {
                var c = template[i];
                if ((c == '{' || c == '}') && i + 1 < template.Length && template[i + 1] == c)
                {
                    literal.Append(c);
                    i++;
                }
                else if (c == '{')
                {
                    var end = template.IndexOf('}', i + 1);
                    if (end < 0)
                    {
                        throw new FormatException($"has a '{{' at {i} that is never closed");
                    }

                    var name = template[(i + 1)..end].Trim();
                    if (name.Length == 0 || name.Contains('{'))
                    {
                        throw new FormatException($"has an empty or nested placeholder at {i}");
                    }

                    parts.Add((literal.ToString(), false));
                    literal.Clear();
                    parts.Add((name, true));
                    i = end;
                }
                else if (c == '}')
                {
                    throw new FormatException($"has a '}}' at {i} that closes nothing (write '}}}}' for a brace)");
                }
                else
                {
                    literal.Append(c);
                }
            }

            parts.Add((literal.ToString(), false));
            return new Template(parts);
        }

        public string Render(Func<string, string> field)
        {
            var text = new StringBuilder();
            foreach (var (part, isField) in _parts)
            {
                text.Append(isField ? field(part) : part);
            }

            return text.ToString();
        }
    }
}

/// <summary>A message a rule cannot turn into a job; the message says why.</summary>
public sealed class UnusableMessageException(string message) : Exception(message);
