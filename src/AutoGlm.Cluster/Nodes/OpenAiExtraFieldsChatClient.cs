using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;
using OpenAI.Chat;

namespace AutoGlm.Cluster.Nodes;

/// <summary>
/// Sends the request fields OpenAI's schema lacks but GLM servers read — <c>enable_thinking</c>,
/// <c>repetition_penalty</c> and <c>top_k</c> — in the JSON body of an OpenAI-compatible call, where vLLM and a heavy
/// AutoGlm daemon take them. Without this, the OpenAI client drops them and a heavy node answers differently from
/// the local engine.
/// </summary>
/// <remarks>Thread-safe; the caller's <see cref="ChatOptions"/> is never changed (a clone carries the fields).</remarks>
public sealed class OpenAiExtraFieldsChatClient(IChatClient inner) : DelegatingChatClient(inner)
{
    public override Task<ChatResponse> GetResponseAsync(IEnumerable<Microsoft.Extensions.AI.ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        base.GetResponseAsync(messages, WithExtraFields(options), cancellationToken);

    public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<Microsoft.Extensions.AI.ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        base.GetStreamingResponseAsync(messages, WithExtraFields(options), cancellationToken);

    /// <summary>The options with a raw-representation factory that writes the extra fields, or the same options when there are none.</summary>
    internal static ChatOptions? WithExtraFields(ChatOptions? options)
    {
        var thinking = options?.AdditionalProperties?.TryGetValue(LocalEngine.EnableThinkingProperty, out var t) == true ? t : null;
        var penalty = options?.AdditionalProperties?.TryGetValue(LocalEngine.RepetitionPenaltyProperty, out var p) == true ? p : null;
        var topK = options?.TopK;
        if (options is null || (thinking is null && penalty is null && topK is null))
        {
            return options;
        }

        var clone = options.Clone();
        var previous = options.RawRepresentationFactory;
        clone.RawRepresentationFactory = client =>
        {
            var raw = previous?.Invoke(client) as ChatCompletionOptions ?? new ChatCompletionOptions();
#pragma warning disable SCME0001 // JsonPatch is the OpenAI client's way to send fields outside its schema.
            if (AsBool(thinking) is { } enable)
            {
                raw.Patch.Set("$.enable_thinking"u8, enable);
            }

            if (AsDouble(penalty) is { } repetition)
            {
                raw.Patch.Set("$.repetition_penalty"u8, repetition);
            }

            if (topK is { } k)
            {
                raw.Patch.Set("$.top_k"u8, k);
            }
#pragma warning restore SCME0001
            return raw;
        };
        return clone;
    }

    /// <summary>A request property as a bool, whether it came as a bool, a JSON value or a string.</summary>
    internal static bool? AsBool(object? value) => value switch
    {
        bool b => b,
        System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.True } => true,
        System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.False } => false,
        string s when bool.TryParse(s, out var parsed) => parsed,
        _ => null,
    };

    private static double? AsDouble(object? value) => value switch
    {
        float f => f,
        double d => d,
        int i => i,
        System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.Number } e => e.GetDouble(),
        _ => null,
    };
}
