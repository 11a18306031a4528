using AutoGlm.Runtime.Text;
using System.Text.Json;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Contract;

/// <summary>Writes and reads the JSON results of the MQTT contract (see docs/mqtt.md): the device's runner writes them, the MQTT bridge reads them.</summary>
public static class ResultJson
{
    // Results go to machines and terminals, not into HTML: keep quotes, '+' and non-ASCII text readable.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>An error result: <c>{"id":…,"error":{"code":…,"message":…}}</c>.</summary>
    public static byte[] Error(string? id, string code, string message) => Write(writer =>
    {
        writer.WriteString("id", id);
        writer.WriteStartObject("error");
        writer.WriteString("code", code);
        writer.WriteString("message", message);
        writer.WriteEndObject();
    });

    /// <summary>A successful result; <paramref name="routeReason"/> (why it ran where <paramref name="servedBy"/> says) is written when the router gave one.</summary>
    /// <remarks>An answer that is an AutoGLM action carries it parsed beside the text, as <c>action</c>.</remarks>
    public static byte[] Success(string id, string text, string? reasoning, ChatFinishReason? finishReason, UsageDetails? usage, string servedBy, GenerationTimings? timings, double totalMs, string? routeReason = null, AutoGlmAction? action = null) => Write(writer =>
    {
        writer.WriteString("id", id);
        writer.WriteString("text", text);
        action?.WriteTo(writer, "action");
        if (reasoning is null)
        {
            writer.WriteNull("reasoning");
        }
        else
        {
            writer.WriteString("reasoning", reasoning);
        }

        writer.WriteString("finish_reason", finishReason?.Value);
        writer.WriteStartObject("usage");
        writer.WriteNumber("prompt_tokens", usage?.InputTokenCount ?? 0);
        writer.WriteNumber("completion_tokens", usage?.OutputTokenCount ?? 0);
        writer.WriteNumber("total_tokens", usage?.TotalTokenCount ?? 0);
        writer.WriteNumber("cached_tokens", usage?.CachedInputTokenCount ?? 0);
        writer.WriteEndObject();
        writer.WriteString("served_by", servedBy);
        if (routeReason is not null)
        {
            writer.WriteString("route_reason", routeReason);
        }

        writer.WriteStartObject("timings");
        if (timings is not null)
        {
            writer.WriteNumber("queue_ms", Math.Round(timings.QueueMs, 3));
            writer.WriteNumber("time_to_first_token_ms", Math.Round(timings.TimeToFirstTokenMs, 3));
            writer.WriteNumber("prefill_ms", Math.Round(timings.PrefillMs, 3));
            writer.WriteNumber("decode_ms", Math.Round(timings.DecodeMs, 3));
        }

        writer.WriteNumber("total_ms", Math.Round(totalMs, 3));
        writer.WriteEndObject();
    });

    /// <summary>A token delta on the stream topic: <c>{"id":…,"seq":n,"text":…}</c> or <c>"reasoning":…</c>.</summary>
    public static byte[] Delta(string id, int seq, string text, bool isReasoning) => Write(writer =>
    {
        writer.WriteString("id", id);
        writer.WriteNumber("seq", seq);
        writer.WriteString(isReasoning ? "reasoning" : "text", text);
    });

    /// <summary>
    /// A restart on the stream topic, <c>{"id":…,"seq":n,"restart":true,"route_reason":…}</c>: the deltas before it came
    /// from a heavy node that failed mid-answer and are void; the whole answer follows again from the local engine.
    /// </summary>
    public static byte[] StreamRestart(string id, int seq, string? routeReason) => Write(writer =>
    {
        writer.WriteString("id", id);
        writer.WriteNumber("seq", seq);
        writer.WriteBoolean("restart", true);
        writer.WriteString("route_reason", routeReason);
    });

    /// <summary>The last message on the stream topic: <c>{"id":…,"seq":n,"done":true}</c>.</summary>
    public static byte[] StreamEnd(string id, int seq) => Write(writer =>
    {
        writer.WriteString("id", id);
        writer.WriteNumber("seq", seq);
        writer.WriteBoolean("done", true);
    });

    /// <summary>The error code of a result, or null for a success.</summary>
    public static string? ErrorCode(ReadOnlySpan<byte> result)
    {
        var reader = new Utf8JsonReader(result);
        using var document = JsonDocument.ParseValue(ref reader);
        return document.RootElement.TryGetProperty("error", out var error) ? error.GetProperty("code").GetString() : null;
    }

    /// <summary>
    /// Reads a result: the answer (text, reasoning, finish reason, usage) as a <see cref="ChatResponse"/>, or the error's
    /// code and message; neither when the payload is a result without text.
    /// </summary>
    /// <exception cref="JsonException">The payload is not JSON.</exception>
    public static (ChatResponse? Answer, string? ErrorCode, string? ErrorMessage) Read(ReadOnlySpan<byte> payload)
    {
        var reader = new Utf8JsonReader(payload);
        using var document = JsonDocument.ParseValue(ref reader);
        var root = document.RootElement;
        if (root.TryGetProperty("error", out var error))
        {
            var code = error.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : "unknown";
            var message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : "no message";
            return (null, code, message);
        }

        var contents = new List<AIContent>();
        if (root.TryGetProperty("reasoning", out var reasoning) && reasoning.ValueKind == JsonValueKind.String)
        {
            contents.Add(new TextReasoningContent(reasoning.GetString()));
        }

        if (!root.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
        {
            return (null, null, null);
        }

        contents.Add(new TextContent(text.GetString()));
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, contents))
        {
            FinishReason = root.TryGetProperty("finish_reason", out var finish) && finish.ValueKind == JsonValueKind.String
                ? new ChatFinishReason(finish.GetString()!)
                : ChatFinishReason.Stop,
        };
        if (root.TryGetProperty("usage", out var usage))
        {
            response.Usage = new UsageDetails
            {
                InputTokenCount = usage.GetProperty("prompt_tokens").GetInt64(),
                OutputTokenCount = usage.GetProperty("completion_tokens").GetInt64(),
                TotalTokenCount = usage.GetProperty("total_tokens").GetInt64(),
            };
        }

        return (response, null, null);
    }

    /// <summary>Writes one JSON object whose members <paramref name="body"/> writes, escaped as results are.</summary>
    public static byte[] Write(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, WriterOptions))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        return stream.ToArray();
    }
}
