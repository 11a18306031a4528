using System.Buffers;
using System.Text.Json;
using AutoGlm.Cluster.Nodes;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Contract;

/// <summary>
/// The JSON job of the MQTT contract (see docs/mqtt.md): its field names, read by the device's intake, and the job
/// the MQTT bridge writes from a chat request.
/// </summary>
public static class JobJson
{
    /// <summary>Every field a JSON job on <c>…/jobs</c> may carry.</summary>
    public static IReadOnlyList<string> Fields { get; } =
        ["id", "messages", "prompt", "max_tokens", "temperature", "top_p", "seed", "enable_thinking", "stream", "route", "deadline_ms", "priority", "image", "audio"];

    /// <summary>Every user property a raw media job on <c>…/jobs/image</c> or <c>…/jobs/audio</c> may carry (the fields less the content ones).</summary>
    public static IReadOnlyList<string> UserProperties { get; } =
        ["id", "prompt", "max_tokens", "temperature", "top_p", "seed", "enable_thinking", "stream", "route", "deadline_ms", "priority"];

    /// <summary>Writes a chat request as a job with id <paramref name="id"/>: messages as text, images and clips as data URIs.</summary>
    /// <param name="id">The job id (it becomes part of topics).</param>
    /// <param name="messages">The conversation.</param>
    /// <param name="options">Sampling options and <c>enable_thinking</c>.</param>
    /// <param name="route">The job's <c>route</c>: <c>local</c> where the device must run it itself.</param>
    public static byte[] Write(string id, IEnumerable<ChatMessage> messages, ChatOptions? options, string route)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", id);
            json.WriteStartArray("messages");
            List<DataContent> images = [], audios = [];
            foreach (var message in messages)
            {
                json.WriteStartObject();
                json.WriteString("role", message.Role == ChatRole.System ? "system" : message.Role == ChatRole.Assistant ? "assistant" : "user");
                json.WriteString("content", message.Text);
                json.WriteEndObject();
                foreach (var data in message.Contents.OfType<DataContent>())
                {
                    if (data.HasTopLevelMediaType("image"))
                    {
                        images.Add(data);
                    }
                    else if (data.HasTopLevelMediaType("audio"))
                    {
                        audios.Add(data);
                    }
                }
            }

            json.WriteEndArray();
            foreach (var (field, items) in new[] { ("image", images), ("audio", audios) })
            {
                if (items.Count > 0)
                {
                    json.WriteStartArray(field);
                    foreach (var item in items)
                    {
                        json.WriteStringValue(item.Uri);
                    }

                    json.WriteEndArray();
                }
            }

            if (options?.MaxOutputTokens is { } maxTokens)
            {
                json.WriteNumber("max_tokens", maxTokens);
            }

            if (options?.Temperature is { } temperature)
            {
                json.WriteNumber("temperature", temperature);
            }

            if (options?.TopP is { } topP)
            {
                json.WriteNumber("top_p", topP);
            }

            if (options?.Seed is { } seed)
            {
                json.WriteNumber("seed", seed);
            }

            if (options?.AdditionalProperties?.TryGetValue(LocalEngine.EnableThinkingProperty, out var thinking) == true && OpenAiExtraFieldsChatClient.AsBool(thinking) is { } enable)
            {
                json.WriteBoolean("enable_thinking", enable);
            }

            json.WriteString("route", route);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
