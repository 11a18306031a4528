using System.Buffers;
using System.Globalization;
using System.Text.Json;
using AutoGlm.Edge.Wire;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Http;

/// <summary>
/// vLLM's <c>POST /tokenize</c> and <c>POST /detokenize</c>, at the root as vLLM serves them: the local model's
/// tokenizer, with the same keys, limits and browser guard as <c>/v1</c>.
/// </summary>
/// <remarks>
/// <c>/tokenize</c> tokenizes raw text exactly as <see cref="CompletionsEndpoint"/> does for a text prompt, so its
/// <c>count</c> is that completion's <c>prompt_tokens</c>.
/// </remarks>
internal static class TokenizeEndpoints
{
    public const string TokenizeRoute = "/tokenize";
    public const string DetokenizeRoute = "/detokenize";

    /// <summary>Fields a vLLM client may send that change nothing here.</summary>
    private static readonly HashSet<string> Ignored = ["model", "user"];

    /// <summary>Whether a path is one of these routes (they sit outside <c>/v1</c> but are API all the same).</summary>
    public static bool IsRoute(PathString path) =>
        path.Equals(TokenizeRoute, StringComparison.OrdinalIgnoreCase) || path.Equals(DetokenizeRoute, StringComparison.OrdinalIgnoreCase);

    /// <summary><c>{"prompt": "…", "add_special_tokens": true}</c> → <c>{"tokens": [...], "count": n, "max_model_len": N}</c>.</summary>
    public static Task TokenizeAsync(HttpContext context, IOptions<HttpOptions> options) =>
        HandleAsync(context, options.Value, static (root, engine, json) =>
        {
            string? prompt = null;
            var addSpecial = true;
            var returnStrings = false;
            foreach (var property in root.EnumerateObject())
            {
                switch (property.Name)
                {
                    case "prompt" when property.Value.ValueKind == JsonValueKind.String:
                        prompt = property.Value.GetString();
                        break;
                    case "prompt":
                        return ApiError.BadRequest("prompt must be a string (chat messages are not tokenized here)", "prompt");
                    case "add_special_tokens" when property.Value.ValueKind is JsonValueKind.True or JsonValueKind.False:
                        addSpecial = property.Value.GetBoolean();
                        break;
                    case "return_token_strs" when property.Value.ValueKind is JsonValueKind.True or JsonValueKind.False:
                        returnStrings = property.Value.GetBoolean();
                        break;
                    case "add_special_tokens" or "return_token_strs":
                        return ApiError.BadRequest($"{property.Name} must be true or false", property.Name);
                    case var name when !Ignored.Contains(name):
                        return ApiError.Unsupported(name, $"'{name}' is not supported by this server");
                }
            }

            if (prompt is null)
            {
                return ApiError.BadRequest("prompt is required: the text to tokenize", "prompt");
            }

            var tokens = engine.TokenizeRaw(prompt, addSpecial);
            json.WriteStartObject();
            json.WriteNumber("count", tokens.Count);
            json.WriteNumber("max_model_len", engine.ContextLength);
            json.WriteStartArray("tokens");
            foreach (var id in tokens)
            {
                json.WriteNumberValue(id);
            }

            json.WriteEndArray();
            if (returnStrings)
            {
                json.WriteStartArray("token_strs");
                foreach (var id in tokens)
                {
                    json.WriteStringValue(engine.Tokenizer.Decode([id]));
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
            return null;
        });

    /// <summary><c>{"tokens": [...]}</c> → <c>{"prompt": "…"}</c>; special tokens are written as their names.</summary>
    public static Task DetokenizeAsync(HttpContext context, IOptions<HttpOptions> options) =>
        HandleAsync(context, options.Value, static (root, engine, json) =>
        {
            List<int>? tokens = null;
            foreach (var property in root.EnumerateObject())
            {
                switch (property.Name)
                {
                    case "tokens" when property.Value.ValueKind == JsonValueKind.Array:
                        tokens = [];
                        var index = 0;
                        foreach (var item in property.Value.EnumerateArray())
                        {
                            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out var id))
                            {
                                return ApiError.BadRequest($"tokens[{index}] must be a token id (an integer), got {item.GetRawText()}", $"tokens[{index}]");
                            }

                            if (!engine.Tokenizer.IsDefined(id))
                            {
                                return ApiError.BadRequest(string.Create(CultureInfo.InvariantCulture, $"tokens[{index}]: token id {id} is not in the model's vocabulary (0 to {engine.Tokenizer.VocabSize - 1}, defined ids only)"), $"tokens[{index}]");
                            }

                            tokens.Add(id);
                            index++;
                        }

                        break;
                    case "tokens":
                        return ApiError.BadRequest("tokens must be an array of token ids", "tokens");
                    case var name when !Ignored.Contains(name):
                        return ApiError.Unsupported(name, $"'{name}' is not supported by this server");
                }
            }

            if (tokens is null)
            {
                return ApiError.BadRequest("tokens is required: the token ids to decode", "tokens");
            }

            json.WriteStartObject();
            json.WriteString("prompt", engine.Tokenizer.Decode(tokens));
            json.WriteEndObject();
            return null;
        });

    private static async Task HandleAsync(HttpContext context, HttpOptions options, Func<JsonElement, LocalEngine, Utf8JsonWriter, ApiError?> answer)
    {
        var (document, error) = await RequestBody.ReadAsync(context, options).ConfigureAwait(false);
        using (document)
        {
            error ??= document!.RootElement.ValueKind != JsonValueKind.Object ? ApiError.BadRequest("the body must be a JSON object")
                : Duplicate(document.RootElement) is { } twice ? ApiError.BadRequest($"'{twice}' appears twice", twice)
                : JsonText.FindInvalid(document.RootElement) is { } invalid ? ApiError.BadRequest($"{invalid} is not valid text: it holds a lone UTF-16 surrogate or bytes that are not UTF-8", invalid)
                : CompletionsEndpoint.ResolveEngine(context, out var engine) ?? Answer(context, document.RootElement, engine!, answer);
        }

        if (error is not null)
        {
            await error.WriteAsync(context.Response).ConfigureAwait(false);
            return;
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private static string? Duplicate(JsonElement root)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        return root.EnumerateObject().Select(p => p.Name).FirstOrDefault(name => !seen.Add(name));
    }

    /// <summary>Writes the answer into a buffer first, so that an error found half way still answers cleanly.</summary>
    private static ApiError? Answer(HttpContext context, JsonElement root, LocalEngine engine, Func<JsonElement, LocalEngine, Utf8JsonWriter, ApiError?> answer)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            if (answer(root, engine, json) is { } error)
            {
                return error;
            }
        }

        context.Response.ContentType = "application/json";
        context.Response.BodyWriter.Write(buffer.WrittenSpan);
        return null;
    }
}
