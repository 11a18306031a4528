using Microsoft.Extensions.AI;

namespace AutoGlm.Runtime.Generation;

/// <summary>
/// Typed access to what travels in <see cref="ChatOptions.AdditionalProperties"/> to the engine and in
/// <see cref="ChatResponseUpdate.AdditionalProperties"/> back from it, so no caller spells the keys.
/// </summary>
/// <remarks>The keys are <see cref="LocalEngine"/>'s; a setter never changes anything but the given options.</remarks>
public static class EngineProperties
{
    /// <summary>The update property holding the finished request's <see cref="GenerationTimings"/> (on its last update).</summary>
    public const string TimingsProperty = "timings";

    /// <summary>The options property holding a <see cref="RenderedPrompt"/> (<see cref="SetRenderedPrompt"/>).</summary>
    public const string RenderedPromptProperty = "autoglm.rendered_prompt";

    /// <summary>Sets <see cref="LocalEngine.EnableThinkingProperty"/>.</summary>
    public static ChatOptions SetEnableThinking(this ChatOptions options, bool enable) => options.Set(LocalEngine.EnableThinkingProperty, enable);

    /// <summary>Sets <see cref="LocalEngine.RepetitionPenaltyProperty"/>.</summary>
    public static ChatOptions SetRepetitionPenalty(this ChatOptions options, float penalty) => options.Set(LocalEngine.RepetitionPenaltyProperty, penalty);

    /// <summary>The <see cref="LocalEngine.RepetitionPenaltyProperty"/> set with <see cref="SetRepetitionPenalty"/>, if any.</summary>
    public static float? GetRepetitionPenalty(this ChatOptions? options) =>
        options?.AdditionalProperties?.TryGetValue(LocalEngine.RepetitionPenaltyProperty, out var value) == true && value is float penalty ? penalty : null;

    /// <summary>Sets <see cref="LocalEngine.PromptTokensProperty"/>: a raw prompt the engine runs without a template.</summary>
    public static ChatOptions SetPromptTokens(this ChatOptions options, IReadOnlyList<int> tokens) => options.Set(LocalEngine.PromptTokensProperty, tokens);

    /// <summary>The raw prompt set with <see cref="SetPromptTokens"/>, if any.</summary>
    public static IReadOnlyList<int>? GetPromptTokens(this ChatOptions? options) =>
        options?.AdditionalProperties?.TryGetValue(LocalEngine.PromptTokensProperty, out var value) == true ? value as IReadOnlyList<int> : null;

    /// <summary>Sets <see cref="LocalEngine.RawOutputProperty"/>: the reply as the model wrote it, tags and thinking in the text.</summary>
    public static ChatOptions SetRawOutput(this ChatOptions options) => options.Set(LocalEngine.RawOutputProperty, true);

    /// <summary>Sets <see cref="LocalEngine.LogprobsProperty"/>: how many alternatives each generated token is scored with.</summary>
    public static ChatOptions SetLogprobs(this ChatOptions options, int top) => options.Set(LocalEngine.LogprobsProperty, top);

    /// <summary>
    /// Hands the engine a prompt already templated and tokenized for these exact <paramref name="messages"/> (the
    /// router's cost estimate does this), so the engine does not render it again. The engine uses it only for the same
    /// message list instance, instructions and thinking switch, and only for prompts without media, whose rows it must
    /// measure itself.
    /// </summary>
    public static ChatOptions SetRenderedPrompt(this ChatOptions options, IReadOnlyList<ChatMessage> messages, IReadOnlyList<int> tokens) =>
        options.Set(RenderedPromptProperty, new RenderedPrompt(messages, options.Instructions, LocalEngine.IsThinkingEnabled(options), tokens));

    /// <summary>The prompt set with <see cref="SetRenderedPrompt"/>, if it still fits <paramref name="messages"/> and the options as they are now.</summary>
    public static IReadOnlyList<int>? GetRenderedPrompt(this ChatOptions? options, IReadOnlyList<ChatMessage> messages) =>
        options?.AdditionalProperties?.TryGetValue(RenderedPromptProperty, out var value) == true
            && value is RenderedPrompt rendered
            && ReferenceEquals(rendered.Messages, messages)
            && rendered.Instructions == options.Instructions
            && rendered.Thinking == LocalEngine.IsThinkingEnabled(options)
                ? rendered.Tokens
                : null;

    /// <summary>The timings on the last update of a local answer; null on every other update.</summary>
    public static GenerationTimings? GetTimings(this ChatResponseUpdate update) =>
        update.AdditionalProperties?.TryGetValue(TimingsProperty, out var value) == true ? value as GenerationTimings : null;

    /// <summary>The scored token this update carries (requests with <see cref="LocalEngine.LogprobsProperty"/>); null when it carries none.</summary>
    public static TokenScored? GetScored(this ChatResponseUpdate update) =>
        update.AdditionalProperties?.TryGetValue(LocalEngine.LogprobsProperty, out var value) == true ? value as TokenScored : null;

    private static ChatOptions Set(this ChatOptions options, string key, object value)
    {
        (options.AdditionalProperties ??= [])[key] = value;
        return options;
    }
}

/// <summary>A prompt templated and tokenized for one message list (<see cref="EngineProperties.SetRenderedPrompt"/>).</summary>
public sealed record RenderedPrompt(IReadOnlyList<ChatMessage> Messages, string? Instructions, bool Thinking, IReadOnlyList<int> Tokens);
