using System.Buffers;
using System.Text.Json;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Text;
using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Http;

/// <summary>Writes OpenAI's <c>chat.completion</c> and <c>chat.completion.chunk</c> objects.</summary>
/// <remarks>Stateless: each call writes one complete object to the buffer it is given.</remarks>
internal static class ChatCompletionWriter
{
    /// <summary>A whole non-streamed answer; <c>reasoning_content</c> is written only when <paramref name="withReasoning"/> (null when there was none).</summary>
    /// <remarks>An answer that is an AutoGLM action carries it parsed in the message, as <c>action</c> (a field OpenAI clients ignore).</remarks>
    public static void WriteCompletion(IBufferWriter<byte> output, CompletionIdentity id, string content, bool withReasoning, string? reasoning, string finishReason, UsageDetails? usage, AutoGlmAction? action = null, ChatLogprobs? logprobs = null)
    {
        using var json = new Utf8JsonWriter(output);
        json.WriteStartObject();
        WriteHeader(json, id, "chat.completion");
        json.WriteStartArray("choices");
        json.WriteStartObject();
        json.WriteNumber("index", 0);
        json.WriteStartObject("message");
        json.WriteString("role", "assistant");
        json.WriteString("content", content);
        if (withReasoning)
        {
            json.WriteString("reasoning_content", string.IsNullOrEmpty(reasoning) ? null : reasoning);
        }

        action?.WriteTo(json, "action");
        json.WriteEndObject();
        WriteLogprobs(json, logprobs);
        json.WriteString("finish_reason", finishReason);
        json.WriteEndObject();
        json.WriteEndArray();
        WriteUsage(json, usage);
        json.WriteEndObject();
    }

    /// <summary>
    /// One streamed delta (any of its parts may be absent), as an SSE <c>data:</c> line; with <paramref name="route"/>,
    /// the chunk also carries top-level <c>served_by</c> and <c>route_reason</c> (fields OpenAI clients ignore).
    /// </summary>
    /// <remarks>The last chunk of an answer that is an AutoGLM action carries it parsed in its delta, as <c>action</c>.</remarks>
    public static void WriteChunk(IBufferWriter<byte> output, CompletionIdentity id, bool withRole, string? content, string? reasoning, string? finishReason, RouteInfo? route = null, AutoGlmAction? action = null, ChatLogprobs? logprobs = null)
    {
        output.Write("data: "u8);
        using (var json = new Utf8JsonWriter(output))
        {
            json.WriteStartObject();
            WriteHeader(json, id, "chat.completion.chunk");
            WriteRoute(json, route);
            json.WriteStartArray("choices");
            json.WriteStartObject();
            json.WriteNumber("index", 0);
            json.WriteStartObject("delta");
            if (withRole)
            {
                json.WriteString("role", "assistant");
            }

            if (content is not null)
            {
                json.WriteString("content", content);
            }

            if (reasoning is not null)
            {
                json.WriteString("reasoning_content", reasoning);
            }

            action?.WriteTo(json, "action");
            json.WriteEndObject();
            WriteLogprobs(json, logprobs);
            json.WriteString("finish_reason", finishReason);
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
        }

        output.Write("\n\n"u8);
    }

    // The tokens scored since the last chunk, or null: OpenAI writes "logprobs": null when none were asked for.
    private static void WriteLogprobs(Utf8JsonWriter json, ChatLogprobs? logprobs)
    {
        if (logprobs is null)
        {
            json.WriteNull("logprobs");
        }
        else
        {
            logprobs.Write(json);
        }
    }

    /// <summary>The usage chunk that <c>stream_options.include_usage</c> asks for: no choices, only usage.</summary>
    /// <param name="output">Where the SSE event goes.</param>
    /// <param name="id">The answer's identity.</param>
    /// <param name="usage">The counts.</param>
    /// <param name="objectName">The chunk's <c>object</c>: <c>chat.completion.chunk</c>, or <c>text_completion</c> for the legacy API.</param>
    public static void WriteUsageChunk(IBufferWriter<byte> output, CompletionIdentity id, UsageDetails? usage, string objectName = "chat.completion.chunk")
    {
        output.Write("data: "u8);
        using (var json = new Utf8JsonWriter(output))
        {
            json.WriteStartObject();
            WriteHeader(json, id, objectName);
            json.WriteStartArray("choices");
            json.WriteEndArray();
            WriteUsage(json, usage);
            json.WriteEndObject();
        }

        output.Write("\n\n"u8);
    }

    /// <summary>
    /// The restart chunk (<c>Cluster:MidStreamFailure=restart-local</c>): no choices, <c>"restarted":true</c> and the new
    /// <c>served_by</c>/<c>route_reason</c>. The deltas before it came from a heavy node that failed mid-answer and are
    /// void; the whole answer follows again from the local engine.
    /// </summary>
    public static void WriteRestartChunk(IBufferWriter<byte> output, CompletionIdentity id, RouteInfo route)
    {
        output.Write("data: "u8);
        using (var json = new Utf8JsonWriter(output))
        {
            json.WriteStartObject();
            WriteHeader(json, id, "chat.completion.chunk");
            json.WriteStartArray("choices");
            json.WriteEndArray();
            json.WriteBoolean("restarted", true);
            WriteRoute(json, route);
            json.WriteEndObject();
        }

        output.Write("\n\n"u8);
    }

    /// <summary>The SSE end marker.</summary>
    public static void WriteDone(IBufferWriter<byte> output) => output.Write("data: [DONE]\n\n"u8);

    /// <summary>OpenAI's name for a finish reason.</summary>
    public static string FinishReasonName(ChatFinishReason? reason) => reason == ChatFinishReason.Length ? "length" : "stop";

    internal static void WriteHeader(Utf8JsonWriter json, CompletionIdentity id, string kind)
    {
        json.WriteString("id", id.Id);
        json.WriteString("object", kind);
        json.WriteNumber("created", id.Created);
        json.WriteString("model", id.Model);
        json.WriteString("system_fingerprint", id.Fingerprint);
    }

    private static void WriteRoute(Utf8JsonWriter json, RouteInfo? route)
    {
        if (route is not null)
        {
            json.WriteString("served_by", route.ServedBy);
            json.WriteString("route_reason", route.Reason);
        }
    }

    internal static void WriteUsage(Utf8JsonWriter json, UsageDetails? usage)
    {
        json.WriteStartObject("usage");
        var prompt = usage?.InputTokenCount ?? 0;
        var completion = usage?.OutputTokenCount ?? 0;
        json.WriteNumber("prompt_tokens", prompt);
        json.WriteNumber("completion_tokens", completion);
        json.WriteNumber("total_tokens", usage?.TotalTokenCount ?? prompt + completion);
        json.WriteStartObject("prompt_tokens_details");
        json.WriteNumber("cached_tokens", usage?.CachedInputTokenCount ?? 0);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}

/// <summary>What every object of one answer repeats: its id, creation time (Unix seconds), model and fingerprint.</summary>
internal sealed record CompletionIdentity(string Id, long Created, string Model, string Fingerprint);

/// <summary>Where an answer ran and why, as the router said it.</summary>
internal sealed record RouteInfo(string ServedBy, string? Reason);

/// <summary>
/// The chat <c>logprobs</c> object of some generated tokens, in OpenAI's shape: <c>{"content": [{"token", "logprob",
/// "bytes", "top_logprobs": [{"token", "logprob", "bytes"}, …]}, …]}</c>, the alternatives most likely first.
/// </summary>
/// <remarks>Every generated token is listed, the thinking's too when the model thought. Not thread-safe.</remarks>
internal sealed class ChatLogprobs(GlmTokenizer tokenizer, bool tokensAsIds)
{
    private readonly List<TokenScored> _tokens = [];
    private int _written;

    /// <summary>Tokens added since the last <see cref="Write"/>.</summary>
    public bool HasPending => _written < _tokens.Count;

    public void Add(TokenScored token) => _tokens.Add(token);

    /// <summary>Forgets what was scored (a restart voids the answer before it).</summary>
    public void Clear()
    {
        _tokens.Clear();
        _written = 0;
    }

    /// <summary>Writes the tokens added since the last call (all of them, for a whole answer).</summary>
    public void Write(Utf8JsonWriter json)
    {
        json.WriteStartObject("logprobs");
        json.WriteStartArray("content");
        foreach (var token in _tokens.Skip(_written))
        {
            json.WriteStartObject();
            WriteToken(json, token.TokenId, token.Logprob);
            json.WriteStartArray("top_logprobs");
            foreach (var alternative in token.Top)
            {
                json.WriteStartObject();
                WriteToken(json, alternative.TokenId, alternative.Logprob);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        _written = _tokens.Count;
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private void WriteToken(Utf8JsonWriter json, int id, float logprob)
    {
        json.WriteString("token", CompletionWriter.TokenName(tokenizer, id, tokensAsIds));
        json.WriteNumber("logprob", CompletionWriter.Finite(logprob));
        json.WriteStartArray("bytes");
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(tokenizer.Decode([id])))
        {
            json.WriteNumberValue(b);
        }

        json.WriteEndArray();
    }
}
