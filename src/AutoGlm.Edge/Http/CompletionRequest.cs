using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Http;

/// <summary>A parsed <c>POST /v1/completions</c> body: a raw prompt, the options the engine gets, and how to answer.</summary>
public sealed record CompletionRequest
{
    /// <summary>The <c>model</c> field, when the client named one.</summary>
    public string? Model { get; init; }

    /// <summary>The prompt as text, when it came as a string (tokenized as raw text, no template).</summary>
    public string? PromptText { get; init; }

    /// <summary>The prompt as token ids, when it came as an array of integers (run as they are).</summary>
    public IReadOnlyList<int>? PromptTokens { get; init; }

    /// <summary>vLLM's <c>add_special_tokens</c>: put the model's prompt prefix before a text prompt (default true).</summary>
    public bool AddSpecialTokens { get; init; } = true;

    /// <summary>Sampling, limits and stop strings, translated.</summary>
    public required ChatOptions Options { get; init; }

    /// <summary><c>logprobs</c>: alternatives to report per generated token, or null for none.</summary>
    public int? Logprobs { get; init; }

    /// <summary>vLLM's <c>return_tokens_as_token_ids</c>: name tokens <c>token_id:N</c> in <c>logprobs</c>.</summary>
    public bool TokensAsIds { get; init; }

    /// <summary><c>echo</c>: the prompt's text comes before the completion.</summary>
    public bool Echo { get; init; }

    /// <summary>Answer as server-sent events.</summary>
    public bool Stream { get; init; }

    /// <summary><c>stream_options.include_usage</c>: end the stream with a usage chunk.</summary>
    public bool IncludeUsage { get; init; }
}
