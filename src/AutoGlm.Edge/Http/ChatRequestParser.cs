using System.Text.Json;
using AutoGlm.Cluster.Routing;
using AutoGlm.Edge.Wire;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Http;

/// <summary>
/// Turns a chat completion body into a <see cref="ChatCompletionRequest"/>, checking types, shapes and value ranges
/// (by the engine's own rules, <see cref="SamplingParameters.Validate"/>, so an error names its <c>param</c>); what
/// the model can do is the engine's to decide. Every field it does not know, and every feature it cannot honour
/// (<c>n</c> &gt; 1, tools, logit_bias, …), is an error naming the field, never ignored.
/// </summary>
/// <remarks>One instance parses one body; not thread-safe. Stops at the first error.</remarks>
internal sealed partial class ChatRequestParser
{
    /// <summary>Fields that OpenAI clients send and that change nothing in the answer.</summary>
    private static readonly HashSet<string> Ignored = ["user", "store", "metadata", "service_tier", "prompt_cache_key", "safety_identifier", "parallel_tool_calls"];

    private ApiError? _error;

    private ChatRequestParser()
    {
    }

    /// <summary>Parses a body.</summary>
    /// <returns>The error to answer, or null when <paramref name="request"/> was filled.</returns>
    public static ApiError? Parse(JsonElement root, out ChatCompletionRequest? request) =>
        Parse(root, (parser, body) => parser.ParseRoot(body), out request);

    /// <summary>Checks the body's text once, then reads it with <paramref name="read"/> on a fresh parser.</summary>
    private static ApiError? Parse<T>(JsonElement root, Func<ChatRequestParser, JsonElement, T?> read, out T? request)
        where T : class
    {
        request = null;
        if (JsonText.FindInvalid(root) is { } invalid)
        {
            return ApiError.BadRequest($"{invalid} is not valid text: it holds a lone UTF-16 surrogate (\\ud800-\\udfff escape without its pair) or bytes that are not UTF-8", invalid);
        }

        var parser = new ChatRequestParser();
        request = read(parser, root);
        return parser._error ?? (request is null ? ApiError.BadRequest("the request could not be read") : null);
    }

    /// <summary>Reads a sampling field both completion APIs take into <paramref name="options"/>; false for any other field.</summary>
    private bool SamplingField(string name, JsonElement value, ChatOptions options)
    {
        switch (name)
        {
            case "temperature": options.Temperature = Float(value, name); break;
            case "top_p": options.TopP = Float(value, name); break;
            case "top_k": options.TopK = Int(value, name); break;
            case "frequency_penalty": options.FrequencyPenalty = Float(value, name); break;
            case "presence_penalty": options.PresencePenalty = Float(value, name); break;
            case "repetition_penalty" when Float(value, name) is { } penalty:
                options.SetRepetitionPenalty(penalty);
                break;
            case "repetition_penalty": break;
            case "seed": options.Seed = Long(value, name); break;
            case "stop": options.StopSequences = Stop(value); break;
            default: return false;
        }

        return true;
    }

    private ChatCompletionRequest? ParseRoot(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return Fail<ChatCompletionRequest>(ApiError.BadRequest("the body must be a JSON object"));
        }

        string? model = null, image = null, audio = null;
        List<ChatMessage>? messages = null;
        bool stream = false, includeUsage = false, returnReasoning = false, logprobs = false, tokensAsIds = false;
        int? topLogprobs = null;
        bool? thinking = null, effortThinking = null;
        int? maxTokens = null, maxCompletionTokens = null;
        var options = new ChatOptions();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in root.EnumerateObject())
        {
            var name = property.Name;
            var value = property.Value;
            if (!seen.Add(name))
            {
                return Fail<ChatCompletionRequest>(ApiError.BadRequest($"'{name}' appears twice", name));
            }

            switch (name)
            {
                case "model": model = String(value, name); break;
                case "messages": messages = Messages(value); break;
                case "stream": stream = Bool(value, name) ?? false; break;
                case "stream_options": includeUsage = StreamOptions(value); break;
                case "max_tokens": maxTokens = Int(value, name); break;
                case "max_completion_tokens": maxCompletionTokens = Int(value, name); break;
                case "enable_thinking": thinking = Bool(value, name); break;
                case "chat_template_kwargs": thinking = TemplateKwargs(value) ?? thinking; break;
                case "reasoning_effort": effortThinking = ReasoningEffort(value); break;
                case "return_reasoning": returnReasoning = Bool(value, name) ?? false; break;
                case "n": Require(Int(value, name) is null or 1, name, "n must be 1: this server answers one choice per request"); break;
                case "route" when String(value, name) is { } route:
                    Require(route is "auto" or "local" or "remote", name, $"route must be auto, local or remote (got '{route}')");
                    options.SetRoute(route);
                    break;
                case "route": break;
                case "image": image = String(value, name); break;
                case "audio" when value.ValueKind == JsonValueKind.Object:
                    return Fail<ChatCompletionRequest>(ApiError.Unsupported(name, "audio output is not supported; send input audio as a string (base64 or data URI) or an input_audio content part"));
                case "audio": audio = String(value, name); break;
                case "tools" or "functions": Require(IsEmpty(value), name, $"{name} are not supported: this model has no tool calling"); break;
                case "tool_choice" or "function_call": Require(value.ValueKind == JsonValueKind.Null || value.ValueEquals("none"), name, $"{name} must be \"none\": this model has no tool calling"); break;
                case "logprobs": logprobs = Bool(value, name) ?? false; break;
                case "top_logprobs":
                    topLogprobs = Int(value, name);
                    Require(topLogprobs is null or (>= 0 and <= TokenLogprobs.MaxTop), name, $"top_logprobs must be 0 to {TokenLogprobs.MaxTop} (got {topLogprobs})");
                    break;
                case "return_tokens_as_token_ids": tokensAsIds = Bool(value, name) ?? false; break;
                case "skip_special_tokens" when Bool(value, name) == false: options.SetRawOutput(); break;
                case "skip_special_tokens": break;
                case "logit_bias": Require(IsEmpty(value), name, "logit_bias is not supported"); break;
                case "response_format": Require(value.ValueKind == JsonValueKind.Null || (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("type", out var type) && type.ValueEquals("text") && value.EnumerateObject().Count() == 1), name, "response_format must be {\"type\": \"text\"}: structured output is not supported"); break;
                case "modalities": Require(value.ValueKind == JsonValueKind.Null || (value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(m => m.ValueEquals("text"))), name, "only the text output modality is supported"); break;
                default:
                    if (!SamplingField(name, value, options) && !Ignored.Contains(name))
                    {
                        return Fail<ChatCompletionRequest>(ApiError.Unsupported(name, $"'{name}' is not supported by this server"));
                    }

                    break;
            }

            if (_error is not null)
            {
                return null;
            }
        }

        if (messages is null)
        {
            return Fail<ChatCompletionRequest>(ApiError.BadRequest("messages is required", "messages"));
        }

        if (maxTokens is { } a && maxCompletionTokens is { } b && a != b)
        {
            return Fail<ChatCompletionRequest>(ApiError.BadRequest("max_tokens and max_completion_tokens disagree; send one", "max_completion_tokens"));
        }

        if (topLogprobs is > 0 && !logprobs)
        {
            return Fail<ChatCompletionRequest>(ApiError.BadRequest("top_logprobs needs logprobs: true", "top_logprobs"));
        }

        if (logprobs && options.GetRoute() == "remote")
        {
            return Fail<ChatCompletionRequest>(ApiError.Unsupported("logprobs", "logprobs are computed by this device's engine: a request with route remote cannot have them"));
        }

        if (logprobs)
        {
            // Log probabilities are the local engine's: a heavy node's client does not return them.
            options.SetLogprobs(topLogprobs ?? 0);
            options.SetRoute("local");
        }

        if (includeUsage && !stream)
        {
            return Fail<ChatCompletionRequest>(ApiError.BadRequest("stream_options is only allowed when stream is true", "stream_options"));
        }

        if (!AttachTopLevelMedia(messages, image, "image") || !AttachTopLevelMedia(messages, audio, "audio"))
        {
            return null;
        }

        options.MaxOutputTokens = maxCompletionTokens ?? maxTokens;
        options.ModelId = model;
        if (!InRange(options, maxCompletionTokens is not null ? "max_completion_tokens" : "max_tokens"))
        {
            return null;
        }

        if ((thinking ?? effortThinking) is { } enable)
        {
            options.SetEnableThinking(enable);
        }

        return new ChatCompletionRequest
        {
            Model = model,
            Messages = messages,
            Options = options,
            Stream = stream,
            IncludeUsage = includeUsage,
            ReturnReasoning = returnReasoning,
            TopLogprobs = logprobs ? topLogprobs ?? 0 : null,
            TokensAsIds = tokensAsIds,
        };
    }

    /// <summary>Checks each sampling value alone against the engine's rules, so the error can name the one at fault.</summary>
    private bool InRange(ChatOptions options, string maxTokensField)
    {
        var repetition = options.GetRepetitionPenalty();
        (string Param, SamplingParameters? Values)[] checks =
        [
            ("temperature", options.Temperature is { } t ? new() { Temperature = t } : null),
            ("top_p", options.TopP is { } p ? new() { TopP = p } : null),
            ("top_k", options.TopK is { } k ? new() { TopK = k } : null),
            ("frequency_penalty", options.FrequencyPenalty is { } f ? new() { FrequencyPenalty = f } : null),
            ("presence_penalty", options.PresencePenalty is { } r ? new() { PresencePenalty = r } : null),
            ("repetition_penalty", repetition is { } rp ? new() { RepetitionPenalty = rp } : null),
        ];
        foreach (var (param, values) in checks)
        {
            if (values?.Validate().FirstOrDefault() is { } problem)
            {
                Fail<object>(ApiError.BadRequest(problem, param));
                return false;
            }
        }

        if (options.MaxOutputTokens is < 1)
        {
            Fail<object>(ApiError.BadRequest($"{maxTokensField} must be at least 1 (got {options.MaxOutputTokens})", maxTokensField));
            return false;
        }

        if (options.StopSequences is { } stops && (stops.Count > 16 || stops.Any(string.IsNullOrEmpty)))
        {
            Fail<object>(ApiError.BadRequest("stop must hold at most 16 non-empty strings", "stop"));
            return false;
        }

        return true;
    }

    private List<ChatMessage>? Messages(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() == 0)
        {
            return Fail<List<ChatMessage>>(ApiError.BadRequest("messages must be a non-empty array", "messages"));
        }

        var list = new List<ChatMessage>(value.GetArrayLength());
        var index = 0;
        foreach (var item in value.EnumerateArray())
        {
            var message = Message(item, $"messages[{index++}]");
            if (message is null)
            {
                return null;
            }

            list.Add(message);
        }

        return list;
    }

    private ChatMessage? Message(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            return Fail<ChatMessage>(ApiError.BadRequest($"{path} must be an object with role and content", path));
        }

        ChatRole? role = null;
        List<AIContent>? contents = null;
        string? author = null;
        string? reasoning = null;
        foreach (var property in value.EnumerateObject())
        {
            var field = $"{path}.{property.Name}";
            switch (property.Name)
            {
                case "role": role = Role(property.Value, field); break;
                case "content": contents = Content(property.Value, field); break;
                case "name": author = String(property.Value, field); break;
                case "reasoning_content": reasoning = String(property.Value, field); break;
                case "tool_calls" or "function_call": Require(IsEmpty(property.Value), field, "tool calls are not supported: this model has no tool calling"); break;
                case "refusal": Require(property.Value.ValueKind == JsonValueKind.Null, field, "refusal messages are not supported"); break;
                default: return Fail<ChatMessage>(ApiError.Unsupported(field, $"'{property.Name}' is not supported in a message"));
            }

            if (_error is not null)
            {
                return null;
            }
        }

        if (role is null)
        {
            return Fail<ChatMessage>(ApiError.BadRequest($"{path}.role is required", $"{path}.role"));
        }

        if (contents is null && role != ChatRole.Assistant)
        {
            return Fail<ChatMessage>(ApiError.BadRequest($"{path}.content is required", $"{path}.content"));
        }

        contents ??= [];
        if (!string.IsNullOrEmpty(reasoning))
        {
            contents.Insert(0, new TextReasoningContent(reasoning));
        }

        return new ChatMessage(role.Value, contents) { AuthorName = author };
    }

    private ChatRole? Role(JsonElement value, string path) => value.ValueKind != JsonValueKind.String
        ? Fail<ChatRole?>(ApiError.BadRequest($"{path} must be a string", path))
        : value.GetString() switch
        {
            "system" or "developer" => ChatRole.System,
            "user" => ChatRole.User,
            "assistant" => ChatRole.Assistant,
            "tool" or "function" => Fail<ChatRole?>(ApiError.Unsupported(path, $"role '{value.GetString()}' is not supported: this model has no tool calling")),
            var other => Fail<ChatRole?>(ApiError.BadRequest($"{path} '{other}' is not a role (system, developer, user, assistant)", path)),
        };

    private List<AIContent>? Content(JsonElement value, string path)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.String:
                return [new TextContent(value.GetString())];
            case JsonValueKind.Array:
                var parts = new List<AIContent>();
                var index = 0;
                foreach (var part in value.EnumerateArray())
                {
                    var content = Part(part, $"{path}[{index++}]");
                    if (content is null)
                    {
                        return null;
                    }

                    parts.Add(content);
                }

                return parts;
            default:
                return Fail<List<AIContent>>(ApiError.BadRequest($"{path} must be a string or an array of content parts", path));
        }
    }

    private AIContent? Part(JsonElement part, string path)
    {
        if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
        {
            return Fail<AIContent>(ApiError.BadRequest($"{path} must be an object with a string type", path));
        }

        var kind = type.GetString();
        var expected = kind switch
        {
            "text" => "text",
            "image_url" => "image_url",
            "input_audio" => "input_audio",
            _ => null,
        };
        if (expected is null)
        {
            return Fail<AIContent>(ApiError.Unsupported($"{path}.type", $"content part type '{kind}' is not supported (text, image_url, input_audio)"));
        }

        foreach (var property in part.EnumerateObject())
        {
            if (property.Name != "type" && property.Name != expected)
            {
                return Fail<AIContent>(ApiError.Unsupported($"{path}.{property.Name}", $"'{property.Name}' is not supported in a {kind} part"));
            }
        }

        if (!part.TryGetProperty(expected, out var body))
        {
            return Fail<AIContent>(ApiError.BadRequest($"{path}.{expected} is required", $"{path}.{expected}"));
        }

        var field = $"{path}.{expected}";
        return kind switch
        {
            "text" => String(body, field) is { } text ? new TextContent(text) : Fail<AIContent>(ApiError.BadRequest($"{field} must be a string", field)),
            "image_url" => ImageUrl(body, field),
            _ => InputAudio(body, field),
        };
    }

    private DataContent? ImageUrl(JsonElement body, string path)
    {
        JsonElement url;
        if (body.ValueKind == JsonValueKind.String)
        {
            url = body;
        }
        else if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("url", out url) || url.ValueKind != JsonValueKind.String)
        {
            return Fail<DataContent>(ApiError.BadRequest($"{path}.url is required and must be a string", $"{path}.url"));
        }
        else if (body.EnumerateObject().Select(p => p.Name).FirstOrDefault(n => n is not ("url" or "detail")) is { } extra)
        {
            return Fail<DataContent>(ApiError.Unsupported($"{path}.{extra}", $"'{extra}' is not supported in image_url"));
        }

        return Media.FromDataUri(url.GetString()!, "image", $"{path}.url", out var error) ?? Fail<DataContent>(error!);
    }

    private DataContent? InputAudio(JsonElement body, string path)
    {
        if (body.ValueKind != JsonValueKind.Object
            || !body.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.String
            || !body.TryGetProperty("format", out var format) || format.ValueKind != JsonValueKind.String)
        {
            return Fail<DataContent>(ApiError.BadRequest($"{path} must be an object with string data and format", path));
        }

        return Media.FromBase64Audio(data.GetString()!, format.GetString()!, path, out var error) ?? Fail<DataContent>(error!);
    }

    private bool AttachTopLevelMedia(List<ChatMessage> messages, string? value, string field)
    {
        if (value is null)
        {
            return true;
        }

        var content = Media.FromTopLevel(value, field, out var error);
        if (content is null)
        {
            Fail<object>(error!);
            return false;
        }

        var last = messages.LastOrDefault(m => m.Role == ChatRole.User);
        if (last is null)
        {
            Fail<object>(ApiError.BadRequest($"{field} needs a user message to attach to", field));
            return false;
        }

        last.Contents.Add(content);
        return true;
    }

    private bool StreamOptions(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return false;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            Fail<object>(ApiError.BadRequest("stream_options must be an object", "stream_options"));
            return false;
        }

        var include = false;
        foreach (var property in value.EnumerateObject())
        {
            if (property.Name == "include_usage")
            {
                include = Bool(property.Value, "stream_options.include_usage") ?? false;
            }
            else
            {
                Fail<object>(ApiError.Unsupported($"stream_options.{property.Name}", $"'stream_options.{property.Name}' is not supported"));
            }
        }

        return include;
    }

    private bool? TemplateKwargs(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            return Fail<bool?>(ApiError.BadRequest("chat_template_kwargs must be an object", "chat_template_kwargs"));
        }

        bool? thinking = null;
        foreach (var property in value.EnumerateObject())
        {
            if (property.Name != "enable_thinking")
            {
                return Fail<bool?>(ApiError.Unsupported($"chat_template_kwargs.{property.Name}", $"chat template argument '{property.Name}' is not supported (enable_thinking is)"));
            }

            thinking = Bool(property.Value, "chat_template_kwargs.enable_thinking");
        }

        return thinking;
    }

    private bool? ReasoningEffort(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => value.GetString() switch
        {
            "none" or "minimal" => false,
            "low" or "medium" or "high" => true,
            var other => Fail<bool?>(ApiError.BadRequest($"reasoning_effort '{other}' is not one of none, minimal, low, medium, high", "reasoning_effort")),
        },
        _ => Fail<bool?>(ApiError.BadRequest("reasoning_effort must be a string", "reasoning_effort")),
    };

    private List<string>? Stop(JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.String:
                return [value.GetString()!];
            case JsonValueKind.Array when value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String):
                return [.. value.EnumerateArray().Select(e => e.GetString()!)];
            default:
                return Fail<List<string>>(ApiError.BadRequest("stop must be a string or an array of strings", "stop"));
        }
    }

    private string? String(JsonElement value, string name) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Null => null,
        _ => Fail<string>(ApiError.BadRequest($"{name} must be a string", name)),
    };

    private bool? Bool(JsonElement value, string name) => value.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null => null,
        _ => Fail<bool?>(ApiError.BadRequest($"{name} must be true or false", name)),
    };

    private int? Int(JsonElement value, string name) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.Number when value.TryGetInt32(out var i) => i,
        _ => Fail<int?>(ApiError.BadRequest($"{name} must be an integer", name)),
    };

    private long? Long(JsonElement value, string name) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.Number when value.TryGetInt64(out var i) => i,
        _ => Fail<long?>(ApiError.BadRequest($"{name} must be an integer", name)),
    };

    private float? Float(JsonElement value, string name) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.Number when value.TryGetDouble(out var d) && Math.Abs(d) <= float.MaxValue => (float)d,
        _ => Fail<float?>(ApiError.BadRequest($"{name} must be a number", name)),
    };

    private static bool IsEmpty(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null => true,
        JsonValueKind.Array => value.GetArrayLength() == 0,
        JsonValueKind.Object => !value.EnumerateObject().Any(),
        _ => false,
    };

    private void Require(bool ok, string param, string message)
    {
        if (!ok)
        {
            Fail<object>(ApiError.Unsupported(param, message));
        }
    }

    private T? Fail<T>(ApiError error)
    {
        _error ??= error;
        return default;
    }
}
