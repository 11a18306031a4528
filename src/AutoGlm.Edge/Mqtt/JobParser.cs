using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AutoGlm.Cluster.Contract;
using AutoGlm.Edge.Wire;
using AutoGlm.Runtime.Modalities;

namespace AutoGlm.Edge.Mqtt;

/// <summary>The outcome of parsing a payload: a job, or an error naming what was wrong (with the id if it was readable).</summary>
public sealed record ParsedJob(JobRequest? Job, JobError? Error, string? Id)
{
    public static ParsedJob Ok(JobRequest job) => new(job, null, job.Id);

    public static ParsedJob Fail(string code, string message, string? id = null) => new(null, new JobError(code, message), id);
}

/// <summary>
/// Turns MQTT payloads into <see cref="JobRequest"/>s with strict schema checks: unknown fields, wrong types and
/// out-of-range values are refused with a message that names the field.
/// </summary>
/// <remarks>Stateless apart from its limits; thread-safe.</remarks>
public sealed partial class JobParser
{
    // The contract's field names, shared with the MQTT bridge that writes jobs.
    private static readonly HashSet<string> JobFields = [.. JobJson.Fields];

    private static readonly HashSet<string> PropertyFields = [.. JobJson.UserProperties];

    private const int MaxDeadlineMs = 86_400_000;

    private readonly MqttOptions _limits;

    public JobParser(MqttOptions limits)
    {
        _limits = limits;
    }

    /// <summary>Parses a JSON job from <c>…/jobs</c>.</summary>
    public ParsedJob ParseJson(ReadOnlySequence<byte> payload)
    {
        if (payload.Length == 0)
        {
            return ParsedJob.Fail(ErrorCodes.InvalidJson, "the payload is empty; a job is a JSON object");
        }

        if (payload.Length > _limits.MaxJobBytes)
        {
            return ParsedJob.Fail(ErrorCodes.PayloadTooLarge, $"the payload is {payload.Length} bytes; Mqtt:MaxJobBytes allows {_limits.MaxJobBytes}");
        }

        if (!IsValidUtf8(payload))
        {
            return ParsedJob.Fail(ErrorCodes.InvalidJson, "the payload is not valid UTF-8");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(payload, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            return ParsedJob.Fail(ErrorCodes.InvalidJson, $"the payload is not valid JSON: {ex.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return ParsedJob.Fail(ErrorCodes.InvalidJob, $"a job must be a JSON object (got {Describe(document.RootElement.ValueKind)})");
            }

            var root = document.RootElement;

            // Looking a field up unescapes the names before it, so a broken name must be found before any lookup.
            // Only a \u escape can break text: the bytes are valid UTF-8 by now.
            var escaped = payload.IsSingleSegment ? payload.FirstSpan.IndexOf("\\u"u8) >= 0 : payload.ToArray().AsSpan().IndexOf("\\u"u8) >= 0;
            string? id = root.EnumerateObject().FirstOrDefault(p => TryName(p) == "id").Value is { ValueKind: JsonValueKind.String } idElement
                && TryDecode(idElement) is { } readId && IsValidId(readId) ? readId : null;
            try
            {
                if (escaped && JsonText.FindInvalid(root) is { } broken)
                {
                    throw new JobRejectedException(ErrorCodes.InvalidJson, $"'{broken}' holds a \\u escape that is no character (a lone UTF-16 surrogate such as \\ud800); the payload is not valid JSON text");
                }

                return ParsedJob.Ok(ParseObject(root));
            }
            catch (JobRejectedException ex)
            {
                return ParsedJob.Fail(ex.Code, ex.Message, id);
            }
        }
    }

    /// <summary>Parses a raw image or audio job from <c>…/jobs/image</c> or <c>…/jobs/audio</c>; options come from user properties.</summary>
    public ParsedJob ParseMedia(bool isImage, ReadOnlySequence<byte> payload, IReadOnlyList<KeyValuePair<string, string>> properties)
    {
        var idValue = properties.FirstOrDefault(p => p.Key == "id").Value;
        var id = IsValidId(idValue) ? idValue : null;
        try
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (name, _) in properties)
            {
                if (!PropertyFields.Contains(name))
                {
                    Reject(ErrorCodes.InvalidJob, $"unknown user property '{Clip(name)}' (expected {string.Join(", ", PropertyFields)})");
                }

                if (!seen.Add(name))
                {
                    Reject(ErrorCodes.InvalidJob, $"user property '{name}' appears more than once");
                }
            }

            string? Get(string name) => properties.FirstOrDefault(p => p.Key == name).Value;
            var field = isImage ? "image" : "audio";
            if (payload.Length > _limits.MaxMediaBytes)
            {
                Reject(ErrorCodes.PayloadTooLarge, $"the {field} is {payload.Length} bytes; Mqtt:MaxMediaBytes allows {_limits.MaxMediaBytes}");
            }

            var prompt = Get("prompt") ?? (isImage ? "Describe this image." : "Transcribe this audio.");
            CheckTextLength(prompt.Length, "prompt");
            var media = Sniff(isImage, payload.ToArray(), field);
            return ParsedJob.Ok(new JobRequest
            {
                Id = RequireId(Get("id")),
                Messages = [new JobMessage("user", prompt)],
                MaxTokens = Get("max_tokens") is { } m ? CheckMaxTokens(ParseInteger(m, "max_tokens")) : null,
                Temperature = Get("temperature") is { } t ? CheckTemperature(ParseNumber(t, "temperature")) : null,
                TopP = Get("top_p") is { } p ? CheckTopP(ParseNumber(p, "top_p")) : null,
                Seed = Get("seed") is { } s ? ParseInteger(s, "seed") : null,
                EnableThinking = Get("enable_thinking") is { } e ? ParseBool(e, "enable_thinking") : null,
                Stream = Get("stream") is { } st && ParseBool(st, "stream"),
                Route = Get("route") is { } r ? CheckRoute(r) : "auto",
                DeadlineMs = Get("deadline_ms") is { } d ? CheckDeadline(ParseInteger(d, "deadline_ms")) : null,
                Priority = Get("priority") is { } pr ? CheckPriority(pr) : JobPriority.Normal,
                Images = isImage ? [media] : [],
                Audios = isImage ? [] : [media],
            });
        }
        catch (JobRejectedException ex)
        {
            return ParsedJob.Fail(ex.Code, ex.Message, id);
        }
    }

    private static bool IsValidUtf8(ReadOnlySequence<byte> payload) =>
        payload.IsSingleSegment ? System.Text.Unicode.Utf8.IsValid(payload.FirstSpan) : System.Text.Unicode.Utf8.IsValid(payload.ToArray());

    /// <summary>Whether <paramref name="id"/> can be a job id (it becomes part of a topic).</summary>
    public static bool IsValidId(string? id) => id is { Length: > 0 and <= 128 } && IdPattern().IsMatch(id);

    private JobRequest ParseObject(JsonElement root)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in root.EnumerateObject())
        {
            var name = Name(property, "");
            if (!JobFields.Contains(name))
            {
                Reject(ErrorCodes.InvalidJob, $"unknown field '{Clip(name)}' (expected {string.Join(", ", JobFields)})");
            }

            if (!seen.Add(name))
            {
                Reject(ErrorCodes.InvalidJob, $"field '{name}' appears more than once");
            }
        }

        var id = RequireId(root.TryGetProperty("id", out var idElement) ? String(idElement, "id") : null);
        var hasMessages = root.TryGetProperty("messages", out var messagesElement);
        var hasPrompt = root.TryGetProperty("prompt", out var promptElement);
        if (hasMessages == hasPrompt)
        {
            Reject(ErrorCodes.InvalidJob, "a job needs exactly one of 'messages' or 'prompt'");
        }

        IReadOnlyList<JobMessage> messages = hasPrompt
            ? [new JobMessage("user", String(promptElement, "prompt"))]
            : ParseMessages(messagesElement);
        CheckTextLength(messages.Sum(m => (long)m.Content.Length), hasPrompt ? "prompt" : "messages");

        return new JobRequest
        {
            Id = id,
            Messages = messages,
            MaxTokens = Optional(root, "max_tokens", e => CheckMaxTokens(Integer(e, "max_tokens"))),
            Temperature = Optional(root, "temperature", e => CheckTemperature(Number(e, "temperature"))),
            TopP = Optional(root, "top_p", e => CheckTopP(Number(e, "top_p"))),
            Seed = Optional(root, "seed", e => Integer(e, "seed")),
            EnableThinking = Optional(root, "enable_thinking", e => Bool(e, "enable_thinking")),
            Stream = Optional(root, "stream", e => Bool(e, "stream")) ?? false,
            Route = root.TryGetProperty("route", out var route) ? CheckRoute(String(route, "route")) : "auto",
            DeadlineMs = Optional(root, "deadline_ms", e => CheckDeadline(Integer(e, "deadline_ms"))),
            Priority = root.TryGetProperty("priority", out var priority) ? CheckPriority(String(priority, "priority")) : JobPriority.Normal,
            Images = root.TryGetProperty("image", out var image) ? DecodeMediaList(image, isImage: true) : [],
            Audios = root.TryGetProperty("audio", out var audio) ? DecodeMediaList(audio, isImage: false) : [],
        };
    }

    private static List<JobMessage> ParseMessages(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Array)
        {
            Reject(ErrorCodes.InvalidJob, $"'messages' must be an array (got {Describe(element.ValueKind)})");
        }

        var messages = new List<JobMessage>();
        var index = 0;
        foreach (var item in element.EnumerateArray())
        {
            var where = $"messages[{index++}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                Reject(ErrorCodes.InvalidJob, $"'{where}' must be an object with 'role' and 'content' (got {Describe(item.ValueKind)})");
            }

            foreach (var property in item.EnumerateObject())
            {
                var name = Name(property, where);
                if (name is not ("role" or "content"))
                {
                    Reject(ErrorCodes.InvalidJob, $"unknown field '{where}.{Clip(name)}' (expected role, content)");
                }
            }

            var hasRole = item.TryGetProperty("role", out var role);
            var hasContent = item.TryGetProperty("content", out var content);
            if (!hasRole || !hasContent)
            {
                Reject(ErrorCodes.InvalidJob, $"'{where}' needs both 'role' and 'content'");
            }

            var roleName = String(role, where + ".role");
            if (roleName is not ("system" or "user" or "assistant"))
            {
                Reject(ErrorCodes.InvalidJob, $"'{where}.role' must be system, user or assistant (got '{Clip(roleName)}')");
            }

            messages.Add(new JobMessage(roleName, String(content, where + ".content")));
        }

        if (messages.Count == 0)
        {
            Reject(ErrorCodes.InvalidJob, "'messages' must hold at least one message");
        }

        return messages;
    }

    /// <summary>One item (a string) or several (an array of strings) of <c>image</c> or <c>audio</c>.</summary>
    private List<JobMedia> DecodeMediaList(JsonElement element, bool isImage)
    {
        var field = isImage ? "image" : "audio";
        if (element.ValueKind != JsonValueKind.Array)
        {
            return [DecodeMedia(element, isImage, field)];
        }

        if (element.GetArrayLength() == 0)
        {
            Reject(ErrorCodes.InvalidJob, $"'{field}' is an empty array (send a base64 string, or an array of them)");
        }

        return [.. element.EnumerateArray().Select((item, i) => DecodeMedia(item, isImage, $"{field}[{i}]"))];
    }

    private JobMedia DecodeMedia(JsonElement element, bool isImage, string field)
    {
        var form = MediaDecoder.SplitDataUri(String(element, field), StringComparison.Ordinal, out var declared, out var text);
        if (form == DataUriKind.NotBase64)
        {
            Reject(ErrorCodes.InvalidJob, $"'{field}' is a data URI but not a base64 one (expected data:<type>;base64,<data>)");
        }

        string? claimedType = form == DataUriKind.Base64 ? declared : null;
        if (MediaDecoder.DecodedLength(text.Length) > _limits.MaxMediaBytes)
        {
            Reject(ErrorCodes.PayloadTooLarge, $"the {field} is about {MediaDecoder.DecodedLength(text.Length)} bytes; Mqtt:MaxMediaBytes allows {_limits.MaxMediaBytes}");
        }

        var bytes = MediaDecoder.DecodeBase64(text.Span);
        if (bytes is null)
        {
            Reject(ErrorCodes.InvalidJob, $"'{field}' is not valid base64 (nor a base64 data URI)");
        }

        var media = Sniff(isImage, bytes!, field);
        if (claimedType is { Length: > 0 } && !claimedType.Equals(media.MediaType, StringComparison.OrdinalIgnoreCase)
            && !(media.MediaType == "audio/wav" && claimedType is "audio/x-wav" or "audio/wave"))
        {
            Reject(ErrorCodes.UnsupportedMedia, $"'{field}' claims '{Clip(claimedType)}' but holds {media.MediaType}");
        }

        return media;
    }

    private static JobMedia Sniff(bool isImage, byte[] data, string field)
    {
        var (type, problem) = isImage ? MediaSniffer.SniffImage(data) : MediaSniffer.SniffAudio(data);
        if (type is null)
        {
            Reject(ErrorCodes.UnsupportedMedia, $"the {field} {problem}");
        }

        return new JobMedia(type, data);
    }

    private void CheckTextLength(long chars, string field)
    {
        if (chars > _limits.MaxPromptChars)
        {
            Reject(ErrorCodes.PayloadTooLarge, $"'{field}' holds {chars} characters; Mqtt:MaxPromptChars allows {_limits.MaxPromptChars}");
        }
    }

    private int CheckMaxTokens(long value) => value >= 1 && value <= _limits.MaxTokensLimit
        ? (int)value
        : throw new JobRejectedException(ErrorCodes.InvalidJob, $"'max_tokens' must be between 1 and {_limits.MaxTokensLimit} (got {value})");

    private static float CheckTemperature(double value) => value is >= 0 and <= 2
        ? (float)value
        : throw new JobRejectedException(ErrorCodes.InvalidJob, $"'temperature' must be between 0 and 2 (got {value.ToString(CultureInfo.InvariantCulture)})");

    private static float CheckTopP(double value) => value is > 0 and <= 1
        ? (float)value
        : throw new JobRejectedException(ErrorCodes.InvalidJob, $"'top_p' must be greater than 0 and at most 1 (got {value.ToString(CultureInfo.InvariantCulture)})");

    private static int CheckDeadline(long value) => value is >= 1 and <= MaxDeadlineMs
        ? (int)value
        : throw new JobRejectedException(ErrorCodes.InvalidJob, $"'deadline_ms' must be between 1 and {MaxDeadlineMs} (got {value})");

    private static string CheckRoute(string value) => value is "auto" or "local" or "remote"
        ? value
        : throw new JobRejectedException(ErrorCodes.InvalidJob, $"'route' must be auto, local or remote (got '{Clip(value)}')");

    private static int CheckPriority(string value) => JobPriority.Parse(value)
        ?? throw new JobRejectedException(ErrorCodes.InvalidJob, $"'priority' must be low, normal or high (got '{Clip(value)}')");

    private static string RequireId(string? id) => id is null
        ? throw new JobRejectedException(ErrorCodes.InvalidJob, "'id' is required")
        : IsValidId(id) ? id : throw new JobRejectedException(ErrorCodes.InvalidJob, $"'id' must be 1 to 128 characters of A-Z a-z 0-9 . _ : - (got '{Clip(id)}')");

    private static T? Optional<T>(JsonElement root, string name, Func<JsonElement, T> read)
        where T : struct =>
        root.TryGetProperty(name, out var element) ? read(element) : null;

    private static string String(JsonElement element, string field) => element.ValueKind == JsonValueKind.String
        ? TryDecode(element) ?? throw new JobRejectedException(ErrorCodes.InvalidJson, $"'{field}' holds a \\u escape that is no character (a lone UTF-16 surrogate such as \\ud800); the payload is not valid JSON text")
        : throw new JobRejectedException(ErrorCodes.InvalidJob, $"'{field}' must be a string (got {Describe(element.ValueKind)})");

    /// <summary>
    /// A JSON string's text, or null when it has none: <c>\ud800</c> alone (a lone UTF-16 surrogate) is valid JSON
    /// syntax but no Unicode text; System.Text.Json hands it out as a broken string that no UTF-8 writer (the
    /// journal's, the result's) can encode again.
    /// </summary>
    private static string? TryDecode(JsonElement element)
    {
        string text;
        try
        {
            text = element.GetString()!;
        }
        catch (InvalidOperationException)
        {
            return null;
        }

        return IsWholeText(text) ? text : null;
    }

    /// <summary>A property's name, or null when it holds a lone surrogate escape.</summary>
    private static string? TryName(JsonProperty property)
    {
        try
        {
            return property.Name is var name && IsWholeText(name) ? name : null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>A property's name; one holding a lone surrogate escape is refused like such a value.</summary>
    private static string Name(JsonProperty property, string where) => TryName(property)
        ?? throw new JobRejectedException(ErrorCodes.InvalidJson, $"a field name{(where.Length > 0 ? " in '" + where + "'" : "")} holds a \\u escape that is no character (a lone UTF-16 surrogate such as \\ud800); the payload is not valid JSON text");

    /// <summary>Whether every UTF-16 surrogate in <paramref name="text"/> is half of a pair.</summary>
    private static bool IsWholeText(string text)
    {
        var span = text.AsSpan();
        for (var i = span.IndexOfAnyInRange('\ud800', '\udfff'); i >= 0 && i < span.Length; i++)
        {
            if (char.IsHighSurrogate(span[i]) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(span[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static long Integer(JsonElement element, string field) => element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out var value)
        ? value
        : throw new JobRejectedException(ErrorCodes.InvalidJob, element.ValueKind == JsonValueKind.Number
            ? $"'{field}' must be a whole number in range (got {Clip(element.GetRawText())})"
            : $"'{field}' must be an integer (got {Describe(element.ValueKind)})");

    private static double Number(JsonElement element, string field) => element.ValueKind == JsonValueKind.Number && element.TryGetDouble(out var value) && double.IsFinite(value)
        ? value
        : throw new JobRejectedException(ErrorCodes.InvalidJob, $"'{field}' must be a number (got {Describe(element.ValueKind)})");

    private static bool Bool(JsonElement element, string field) => element.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw new JobRejectedException(ErrorCodes.InvalidJob, $"'{field}' must be true or false (got {Describe(element.ValueKind)})"),
    };

    private static long ParseInteger(string text, string field) => long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
        ? value
        : throw new JobRejectedException(ErrorCodes.InvalidJob, $"user property '{field}' must be an integer (got '{Clip(text)}')");

    private static double ParseNumber(string text, string field) => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
        ? value
        : throw new JobRejectedException(ErrorCodes.InvalidJob, $"user property '{field}' must be a number (got '{Clip(text)}')");

    private static bool ParseBool(string text, string field) => text switch
    {
        "true" => true,
        "false" => false,
        _ => throw new JobRejectedException(ErrorCodes.InvalidJob, $"user property '{field}' must be true or false (got '{Clip(text)}')"),
    };

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>Keeps echoed input short and printable in error messages.</summary>
    private static string Clip(string text)
    {
        var builder = new StringBuilder();
        foreach (var c in text.Take(40))
        {
            builder.Append(char.IsControl(c) ? '?' : c);
        }

        return text.Length > 40 ? builder.Append('…').ToString() : builder.ToString();
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Reject(string code, string message) => throw new JobRejectedException(code, message);

    [GeneratedRegex("^[A-Za-z0-9._:-]+$")]
    private static partial Regex IdPattern();

    /// <summary>Unwinds a parse to the one place that turns it into an error result; never escapes this class.</summary>
    private sealed class JobRejectedException(string code, string message) : Exception(message)
    {
        public string Code { get; } = code;
    }
}
