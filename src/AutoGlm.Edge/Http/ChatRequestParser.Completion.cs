using System.Text.Json;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Http;

/// <summary>The legacy <c>/v1/completions</c> body, read with the chat parser's own field rules.</summary>
internal sealed partial class ChatRequestParser
{
    /// <summary>Tokens a legacy completion makes when <c>max_tokens</c> is not given (OpenAI's and vLLM's default).</summary>
    public const int DefaultCompletionTokens = 16;

    /// <summary>Parses a completions body; unsupported fields that would change the answer are errors naming them.</summary>
    /// <returns>The error to answer, or null when <paramref name="request"/> was filled.</returns>
    public static ApiError? ParseCompletion(JsonElement root, out CompletionRequest? request) =>
        Parse(root, (parser, body) => parser.ParseCompletionRoot(body), out request);

    private CompletionRequest? ParseCompletionRoot(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return Fail<CompletionRequest>(ApiError.BadRequest("the body must be a JSON object"));
        }

        string? model = null, text = null;
        List<int>? tokens = null;
        bool promptSeen = false, stream = false, includeUsage = false, echo = false, asIds = false, addSpecial = true;
        int? logprobs = null;
        var options = new ChatOptions();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in root.EnumerateObject())
        {
            var name = property.Name;
            var value = property.Value;
            if (!seen.Add(name))
            {
                return Fail<CompletionRequest>(ApiError.BadRequest($"'{name}' appears twice", name));
            }

            switch (name)
            {
                case "model": model = String(value, name); break;
                case "prompt": promptSeen = true; (text, tokens) = Prompt(value); break;
                case "stream": stream = Bool(value, name) ?? false; break;
                case "stream_options": includeUsage = StreamOptions(value); break;
                case "max_tokens": options.MaxOutputTokens = Int(value, name); break;
                case "echo": echo = Bool(value, name) ?? false; break;
                case "logprobs":
                    logprobs = Int(value, name);
                    Require(logprobs is null or (>= 0 and <= TokenLogprobs.MaxTop), name, $"logprobs must be 0 to {TokenLogprobs.MaxTop} (got {logprobs})");
                    break;
                case "return_tokens_as_token_ids": asIds = Bool(value, name) ?? false; break;
                case "add_special_tokens": addSpecial = Bool(value, name) ?? true; break;
                case "n": Require(Int(value, name) is null or 1, name, "n must be 1: this server answers one choice per request"); break;
                case "best_of": Require(Int(value, name) is null or 1, name, "best_of must be 1: this server does not rank several candidates"); break;
                case "suffix": Require(value.ValueKind == JsonValueKind.Null || value.ValueEquals(""), name, "suffix is not supported: the model has no fill-in-the-middle mode"); break;
                case "logit_bias": Require(IsEmpty(value), name, "logit_bias is not supported"); break;
                default:
                    if (!SamplingField(name, value, options) && !Ignored.Contains(name))
                    {
                        return Fail<CompletionRequest>(ApiError.Unsupported(name, $"'{name}' is not supported by this server"));
                    }

                    break;
            }

            if (_error is not null)
            {
                return null;
            }
        }

        if (!promptSeen || (text is null && tokens is null))
        {
            return Fail<CompletionRequest>(ApiError.BadRequest("prompt is required: a string or an array of token ids", "prompt"));
        }

        if (includeUsage && !stream)
        {
            return Fail<CompletionRequest>(ApiError.BadRequest("stream_options is only allowed when stream is true", "stream_options"));
        }

        if (echo && logprobs is not null)
        {
            return Fail<CompletionRequest>(ApiError.Unsupported("echo", "echo together with logprobs would need the prompt's log probabilities, which this server does not compute; send one of them"));
        }

        options.MaxOutputTokens ??= DefaultCompletionTokens;
        options.ModelId = model;
        if (!InRange(options, "max_tokens"))
        {
            return null;
        }

        return new CompletionRequest
        {
            Model = model,
            PromptText = text,
            PromptTokens = tokens,
            AddSpecialTokens = addSpecial,
            Options = options,
            Logprobs = logprobs,
            TokensAsIds = asIds,
            Echo = echo,
            Stream = stream,
            IncludeUsage = includeUsage,
        };
    }

    /// <summary>A string, an array of token ids, or a list holding exactly one of those.</summary>
    private (string? Text, List<int>? Tokens) Prompt(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() > 0 && value[0].ValueKind is JsonValueKind.String or JsonValueKind.Array)
        {
            if (value.GetArrayLength() != 1)
            {
                return Fail<(string?, List<int>?)>(ApiError.Unsupported("prompt", $"prompt holds {value.GetArrayLength()} prompts; this server completes one prompt per request"));
            }

            value = value[0];
        }

        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                return (value.GetString(), null);
            case JsonValueKind.Array:
                var tokens = new List<int>(value.GetArrayLength());
                var index = 0;
                foreach (var item in value.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out var id) || id < 0)
                    {
                        return Fail<(string?, List<int>?)>(ApiError.BadRequest($"prompt[{index}] must be a token id (a non-negative integer), got {item.GetRawText()}", $"prompt[{index}]"));
                    }

                    tokens.Add(id);
                    index++;
                }

                return tokens.Count > 0 ? (null, tokens) : Fail<(string?, List<int>?)>(ApiError.BadRequest("prompt must not be empty", "prompt"));
            default:
                return Fail<(string?, List<int>?)>(ApiError.BadRequest("prompt must be a string or an array of token ids", "prompt"));
        }
    }
}
